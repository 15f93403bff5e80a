import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { HeartbeatScheduler, waitForDrain } from './sse-writer.js';

function fakeResponse() {
  const emitter = new EventEmitter() as EventEmitter & {
    destroyed: boolean;
    writableEnded: boolean;
    writableNeedDrain: boolean;
    written: string[];
    write(text: string): boolean;
    destroy(): void;
  };
  emitter.destroyed = false;
  emitter.writableEnded = false;
  emitter.writableNeedDrain = false;
  emitter.written = [];
  emitter.write = (text: string) => {
    emitter.written.push(text);
    return true;
  };
  emitter.destroy = () => {
    emitter.destroyed = true;
    emitter.emit('close');
  };
  return emitter;
}

describe('waitForDrain', () => {
  it('resolves true on drain and false on close', async () => {
    const drained = fakeResponse();
    const waiting = waitForDrain(drained as unknown as ServerResponse, 1000);
    drained.emit('drain');
    expect(await waiting).toBe(true);
    const closed = fakeResponse();
    const waitingClosed = waitForDrain(closed as unknown as ServerResponse);
    closed.emit('close');
    expect(await waitingClosed).toBe(false);
  });

  it('cuts a client that reads nothing for the slow-client timeout', async () => {
    vi.useFakeTimers();
    try {
      const stuck = fakeResponse();
      const waiting = waitForDrain(stuck as unknown as ServerResponse, 60_000);
      await vi.advanceTimersByTimeAsync(59_999);
      expect(stuck.destroyed).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(await waiting).toBe(false);
      expect(stuck.destroyed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('HeartbeatScheduler', () => {
  it('pings only streams idle for a whole interval, with one timer for all', async () => {
    vi.useFakeTimers();
    try {
      const scheduler = new HeartbeatScheduler(300);
      const idle = fakeResponse();
      const busy = fakeResponse();
      scheduler.watch(idle as unknown as ServerResponse);
      const busyHandle = scheduler.watch(busy as unknown as ServerResponse);
      for (let step = 0; step < 10; step++) {
        busyHandle.touch();
        await vi.advanceTimersByTimeAsync(100);
      }
      expect(idle.written.filter((text) => text === ': ping\n\n').length).toBeGreaterThanOrEqual(2);
      expect(busy.written).toEqual([]);
      scheduler.close();
    } finally {
      vi.useRealTimers();
    }
  });
});

import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { HeartbeatScheduler, TurnWriter, waitForDrain } from './sse-writer.js';

function fakeResponse() {
  const emitter = new EventEmitter() as EventEmitter & {
    destroyed: boolean;
    writableEnded: boolean;
    writableNeedDrain: boolean;
    written: string[];
    write(text: string, onWritten?: () => void): boolean;
    destroy(): void;
  };
  emitter.destroyed = false;
  emitter.writableEnded = false;
  emitter.writableNeedDrain = false;
  emitter.written = [];
  emitter.write = (text: string, onWritten?: () => void) => {
    emitter.written.push(text);
    onWritten?.();
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

describe('TurnWriter', () => {
  it('hands what one turn wrote to the response as one chunk, in order', async () => {
    const response = fakeResponse();
    const writer = new TurnWriter(response as unknown as ServerResponse);
    expect(writer.write('id: 1\n\n')).toBe(true);
    writer.write('id: 2\n\n');
    writer.write('id: 3\n\n');
    expect(response.written).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(response.written).toEqual(['id: 1\n\nid: 2\n\nid: 3\n\n']);
    writer.write('id: 4\n\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(response.written).toEqual(['id: 1\n\nid: 2\n\nid: 3\n\n', 'id: 4\n\n']);
  });

  it('reports a backed-up socket, flushes on demand and writes nothing after the end', async () => {
    const response = fakeResponse();
    const writer = new TurnWriter(response as unknown as ServerResponse);
    response.writableNeedDrain = true;
    expect(writer.write('a')).toBe(false);
    const written = vi.fn();
    writer.flush(written);
    expect(response.written).toEqual(['a']);
    expect(written).toHaveBeenCalledOnce();
    writer.write('b');
    response.writableEnded = true;
    await new Promise((resolve) => setImmediate(resolve));
    expect(response.written).toEqual(['a']);
    const nothingQueued = vi.fn();
    writer.flush(nothingQueued);
    expect(nothingQueued).toHaveBeenCalledOnce();
  });
});

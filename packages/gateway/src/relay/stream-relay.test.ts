import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../errors.js';
import type { UpstreamEvent } from '../providers/provider.js';
import { MemoryStore } from '../spool/memory-store.js';
import { StoreUnavailableError, type StreamMeta } from '../spool/store.js';
import { StreamRelay } from './stream-relay.js';

const log = pino({ level: 'silent' });

function meta(overrides: Partial<StreamMeta> = {}): StreamMeta {
  return {
    id: `str_${Math.random().toString(36).slice(2)}`,
    ownerId: 'key',
    model: 'sim',
    createdAt: Date.now(),
    state: 'pending',
    ...overrides,
  };
}

/** An upstream that has opened: one event, then waits; records whether it was released. */
function openedUpstream() {
  const released = vi.fn();
  const iterator: AsyncIterableIterator<UpstreamEvent> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => new Promise<IteratorResult<UpstreamEvent>>(() => {}),
    return: async () => {
      released();
      return { done: true, value: undefined };
    },
  };
  return { iterator, released };
}

class FailingCreateStore extends MemoryStore {
  override async create(): Promise<never> {
    throw new StoreUnavailableError('redis is down');
  }
}

describe('StreamRelay.start', () => {
  it('opens the upstream while a stream without a key is recorded, and releases it when recording fails', async () => {
    const store = new FailingCreateStore({
      retentionMs: 60_000,
      maxStreamBytes: 1_000_000,
      sweepIntervalMs: 0,
    });
    const relay = new StreamRelay(store, { disconnectGraceMs: null }, log);
    const upstream = openedUpstream();
    const open = vi.fn(async () => upstream.iterator);
    const onEnd = vi.fn();
    await expect(relay.start({ meta: meta(), open, observer: { onEnd } })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(open).toHaveBeenCalledOnce();
    expect(upstream.released).toHaveBeenCalledOnce();
    expect(onEnd).toHaveBeenCalledWith('error', { contentDeltas: 0 });
    expect(relay.activeCount).toBe(0);
  });

  it('does not open the upstream before a keyed stream is known to be new, nor for a retry that attaches', async () => {
    const store = new MemoryStore({ retentionMs: 60_000, maxStreamBytes: 1_000_000, sweepIntervalMs: 0 });
    const relay = new StreamRelay(store, { disconnectGraceMs: null }, log);
    const first = meta({ idempotencyKey: 'k1' });
    await store.create(first);
    const open = vi.fn(async () => openedUpstream().iterator);
    const attached = await relay.start({ meta: meta({ idempotencyKey: 'k1' }), open });
    expect(attached).toMatchObject({ kind: 'attached', meta: { id: first.id } });
    expect(open).not.toHaveBeenCalled();
  });

  it('records the upstream refusal on the stream, so a retry that attaches gets the same error', async () => {
    const store = new MemoryStore({ retentionMs: 60_000, maxStreamBytes: 1_000_000, sweepIntervalMs: 0 });
    const relay = new StreamRelay(store, { disconnectGraceMs: null }, log);
    const stream = meta();
    const refusal = GatewayError.of('upstream_error', 'upstream said no');
    await expect(
      relay.start({
        meta: stream,
        open: async () => {
          throw refusal;
        },
      }),
    ).rejects.toBe(refusal);
    expect(await store.getMeta(stream.id)).toMatchObject({ state: 'error', failure: { status: 502 } });
  });

  it('commits a stream whose upstream has not answered commitWithinMs after admission; a later refusal is its error event', async () => {
    vi.useFakeTimers();
    try {
      const store = new MemoryStore({ retentionMs: 60_000, maxStreamBytes: 1_000_000, sweepIntervalMs: 0 });
      const relay = new StreamRelay(store, { disconnectGraceMs: null }, log);
      const stream = meta();
      let refuse: (error: unknown) => void = () => {};
      const admit = vi.fn(async () => {});
      const start = relay.start({
        meta: stream,
        admit,
        commitWithinMs: 2000,
        open: () =>
          new Promise<never>((_resolve, reject) => {
            refuse = reject;
          }),
      });
      let committed = false;
      void start.then(() => {
        committed = true;
      });
      await vi.advanceTimersByTimeAsync(1999);
      expect(committed).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(await start).toMatchObject({ kind: 'started', meta: { state: 'streaming' } });
      expect(admit).toHaveBeenCalledOnce();

      refuse(GatewayError.of('upstream_error', 'upstream said no, late'));
      const events: string[] = [];
      const reader = store.read(stream.id, 0);
      await new Promise<void>((resolve, reject) => {
        const pull = () =>
          reader.pull((result) => {
            if (result.done) return resolve();
            events.push(result.value);
            pull();
          }, reject);
        pull();
      });
      expect(events.join('')).toContain('upstream said no, late');
      expect(await store.getMeta(stream.id)).toMatchObject({ state: 'error' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('still rejects start with an upstream refusal that comes within commitWithinMs, and with a refused admission', async () => {
    const store = new MemoryStore({ retentionMs: 60_000, maxStreamBytes: 1_000_000, sweepIntervalMs: 0 });
    const relay = new StreamRelay(store, { disconnectGraceMs: null }, log);
    const refusal = GatewayError.of('upstream_error', 'upstream said no');
    await expect(
      relay.start({
        meta: meta(),
        commitWithinMs: 2000,
        open: async () => {
          throw refusal;
        },
      }),
    ).rejects.toBe(refusal);
    const limited = GatewayError.of('rate_limit_exceeded', 'slow down');
    const open = vi.fn(async () => openedUpstream().iterator);
    await expect(
      relay.start({
        meta: meta(),
        commitWithinMs: 0,
        admit: async () => {
          throw limited;
        },
        open,
      }),
    ).rejects.toBe(limited);
    expect(open).not.toHaveBeenCalled();
  });
});

/** An upstream that sends nothing until the generation is stopped, then fails with the stop's reason. */
function silentUpstream(signal: AbortSignal): AsyncIterableIterator<UpstreamEvent> {
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () =>
      new Promise<IteratorResult<UpstreamEvent>>((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      ),
    return: async () => ({ done: true, value: undefined }),
  };
}

describe('StreamRelay generation limits', () => {
  it('stops each generation when its own maxDurationMs runs out, with one timer for all', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const store = new MemoryStore({ retentionMs: 60_000, maxStreamBytes: 1_000_000, sweepIntervalMs: 0 });
      const relay = new StreamRelay(store, { disconnectGraceMs: null, maxDurationMs: 1000 }, log);
      const ended: string[] = [];
      const start = async (name: string) => {
        const stream = meta();
        await relay.start({
          meta: stream,
          open: async (signal) => silentUpstream(signal),
          observer: { onEnd: (outcome) => ended.push(`${name} ${outcome}`) },
        });
        return stream.id;
      };
      const first = await start('first');
      await vi.advanceTimersByTimeAsync(400);
      await start('second');
      await vi.advanceTimersByTimeAsync(400);
      await start('third');
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(199);
      expect(ended).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(ended).toEqual(['first error']);
      await vi.advanceTimersByTimeAsync(400);
      expect(ended).toEqual(['first error', 'second error']);
      await vi.advanceTimersByTimeAsync(400);
      expect(ended).toEqual(['first error', 'second error', 'third error']);
      expect(relay.activeCount).toBe(0);
      const events: string[] = [];
      const reader = store.read(first, 0);
      await new Promise<void>((resolve, reject) => {
        const pull = () =>
          reader.pull((result) => {
            if (result.done) return resolve();
            events.push(result.value);
            pull();
          }, reject);
        pull();
      });
      expect(events).toHaveLength(1);
      expect(events[0]).toContain('"code":"generation_limit_exceeded"');
      expect(events[0]).toContain('generation.maxDurationMs');
    } finally {
      vi.useRealTimers();
    }
  });
});

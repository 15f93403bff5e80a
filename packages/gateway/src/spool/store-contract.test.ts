import { type RedisServer, startRedisServer } from '@spool/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, RECORD_OVERHEAD_BYTES } from './memory-store.js';
import { RedisStore } from './redis-store.js';
import { SpoolReadError, type SpoolStore, type StreamMeta } from './store.js';

let counter = 0;
function meta(overrides: Partial<StreamMeta> = {}): StreamMeta {
  counter++;
  return {
    id: `str_test${counter}_${Date.now()}`,
    ownerId: 'owner',
    model: 'sim',
    createdAt: Date.now(),
    state: 'pending',
    ...overrides,
  };
}

async function collect(iterable: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const batch of iterable) text += batch;
  return text;
}

const event = (id: number) => `id: ${id}\ndata: e${id}\n\n`;

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(() => redis.stop());

describe.each([
  ['memory', async () => new MemoryStore({ retentionMs: 60_000, maxStreamBytes: 1_000, sweepIntervalMs: 0 })],
  [
    'redis',
    async () =>
      RedisStore.connect({
        url: redis.url,
        keyPrefix: `t${Date.now()}:`,
        retentionMs: 60_000,
        maxStreamBytes: 1_000,
        lostAfterMs: 1000,
      }),
  ],
] as Array<[string, () => Promise<SpoolStore>]>)('%s spool store', (_kind, makeStore) => {
  let store: SpoolStore;
  beforeAll(async () => {
    store = await makeStore();
  });
  afterAll(() => store.close());

  it('replays what was appended, then tails live events with no gap or duplicate, then ends', async () => {
    const stream = meta();
    await store.create(stream);
    await store.commit(stream.id);
    for (let id = 1; id <= 3; id++) await store.append(stream.id, id, [event(id)]);
    const reading = collect(store.read(stream.id, 1));
    for (let id = 4; id <= 9; id++) await store.append(stream.id, id, [event(id)]);
    await store.finish(stream.id, 'done');
    const expected = Array.from({ length: 8 }, (_, index) => event(index + 2)).join('');
    expect(await reading).toBe(expected);
    expect(await collect(store.read(stream.id, 0))).toBe(event(1) + expected);
    expect(await collect(store.read(stream.id, 9))).toBe('');
    expect(await collect(store.read(stream.id, 12))).toBe('');
  });

  it('pull hands over a held batch before it returns, and a waiting pull inside the append that wakes it', async () => {
    const stream = meta();
    await store.create(stream);
    await store.commit(stream.id);
    await store.append(stream.id, 1, [event(1), event(2)]);
    const reader = store.read(stream.id, 0);
    const seen: Array<IteratorResult<string>> = [];
    const onError = (error: unknown) => {
      throw error;
    };
    reader.pull((result) => seen.push(result), onError);
    expect(seen).toEqual([{ done: false, value: event(1) + event(2) }]);
    reader.pull((result) => seen.push(result), onError);
    expect(seen).toHaveLength(1);
    const appending = store.append(stream.id, 3, [event(3)]);
    expect(seen).toEqual([
      { done: false, value: event(1) + event(2) },
      { done: false, value: event(3) },
    ]);
    await appending;
    reader.pull((result) => seen.push(result), onError);
    await reader.return?.();
    expect(seen.at(-1)).toEqual({ done: true, value: undefined });
    expect(seen).toHaveLength(3);
    const ended: Array<IteratorResult<string>> = [];
    reader.pull((result) => ended.push(result), onError);
    expect(ended).toEqual([{ done: true, value: undefined }]);
    await store.finish(stream.id, 'done');
  });

  it('pull tells a read that cannot start through its error callback', async () => {
    const reader = store.read('str_missing_pull', 0);
    const failure = await new Promise((resolve, reject) => reader.pull(reject, resolve));
    expect(failure).toBeInstanceOf(SpoolReadError);
    expect((failure as SpoolReadError).reason).toBe('not_found');
  });

  it('stores a batch of events under consecutive ids and refuses one that skips an id', async () => {
    const stream = meta();
    await store.create(stream);
    await store.commit(stream.id);
    await store.append(stream.id, 1, [event(1)]);
    await store.append(stream.id, 2, [event(2), event(3), event(4)]);
    await expect(store.append(stream.id, 6, [event(6)])).rejects.toThrow(/expected 5/);
    await store.append(stream.id, 5, [event(5), event(6)]);
    await store.finish(stream.id, 'done');
    const all = Array.from({ length: 6 }, (_, index) => event(index + 1)).join('');
    expect(await collect(store.read(stream.id, 0))).toBe(all);
    expect(await collect(store.read(stream.id, 3))).toBe(event(4) + event(5) + event(6));
  });

  it('records the id of the last event when a stream ends, and none while it runs', async () => {
    const stream = meta();
    await store.create(stream);
    await store.commit(stream.id);
    await store.append(stream.id, 1, [event(1), event(2)]);
    expect(((await store.getMeta(stream.id)) as StreamMeta).lastId).toBeUndefined();
    await store.append(stream.id, 3, [event(3)]);
    await store.finish(stream.id, 'error');
    expect(await store.getMeta(stream.id)).toMatchObject({ state: 'error', lastId: 3 });
    const empty = meta();
    await store.create(empty);
    await store.commit(empty.id);
    await store.finish(empty.id, 'cancelled');
    expect(await store.getMeta(empty.id)).toMatchObject({ state: 'cancelled', lastId: 0 });
  });

  it('returns the existing stream for a reused idempotency key of the same owner only', async () => {
    const first = meta({ idempotencyKey: `k${counter}` });
    expect((await store.create(first)).created).toBe(true);
    const again = await store.create(meta({ idempotencyKey: first.idempotencyKey }));
    expect(again).toMatchObject({ created: false, meta: { id: first.id } });
    const otherOwner = await store.create(
      meta({ idempotencyKey: first.idempotencyKey, ownerId: 'someone-else' }),
    );
    expect(otherOwner.created).toBe(true);
  });

  it('frees the idempotency key of a stream that failed before its first byte and records the failure', async () => {
    const first = meta({ idempotencyKey: `f${counter}` });
    await store.create(first);
    await store.fail(first.id, {
      status: 429,
      body: { error: { message: 'slow down' } },
      retryAfterSeconds: 2,
    });
    expect(await store.getMeta(first.id)).toMatchObject({ failure: { status: 429, retryAfterSeconds: 2 } });
    expect((await store.create(meta({ idempotencyKey: first.idempotencyKey }))).created).toBe(true);
  });

  it('evicts the oldest events past the byte cap and refuses a read from before them', async () => {
    const stream = meta();
    await store.create(stream);
    await store.commit(stream.id);
    const big = (id: number) => `id: ${id}\ndata: ${'x'.repeat(300)}\n\n`;
    for (let id = 1; id <= 6; id++) await store.append(stream.id, id, [big(id)]);
    await store.finish(stream.id, 'done');
    const kept = await store.getMeta(stream.id);
    expect(kept).toMatchObject({ lastId: 6 });
    const firstId = (kept as StreamMeta).firstId ?? 1;
    expect(firstId).toBeGreaterThan(1);
    await expect(collect(store.read(stream.id, 0))).rejects.toBeInstanceOf(SpoolReadError);
    expect(await collect(store.read(stream.id, firstId - 1))).toBe(
      Array.from({ length: 7 - firstId }, (_, index) => big(firstId + index)).join(''),
    );
  });

  it('serves a reader that starts mid-stream on the generating instance: replay then tail, exactly', async () => {
    const stream = meta();
    await store.create(stream);
    await store.commit(stream.id);
    for (let id = 1; id <= 5; id++) await store.append(stream.id, id, [event(id)]);
    const reading = collect(store.read(stream.id, 2));
    for (let id = 6; id <= 40; id++) {
      await store.append(stream.id, id, [event(id)]);
      if (id % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await store.finish(stream.id, 'done');
    expect(await reading).toBe(Array.from({ length: 38 }, (_, index) => event(index + 3)).join(''));
  });

  it('evicts past the byte cap while a stream is live and refuses a read from before the kept events', async () => {
    const stream = meta();
    await store.create(stream);
    await store.commit(stream.id);
    const big = (id: number) => `id: ${id}\ndata: ${'y'.repeat(300)}\n\n`;
    for (let id = 1; id <= 8; id++) await store.append(stream.id, id, [big(id)]);
    await new Promise((resolve) => setImmediate(resolve));
    await expect(collect(store.read(stream.id, 0))).rejects.toMatchObject({
      reason: 'evicted',
    });
    const kept = (await store.getMeta(stream.id)) as StreamMeta;
    const firstId = kept.firstId ?? 1;
    expect(firstId).toBeGreaterThan(1);
    const late = store.read(stream.id, firstId - 1)[Symbol.asyncIterator]();
    let text = (await late.next()).value as string;
    expect(text).toBe(Array.from({ length: 9 - firstId }, (_, index) => big(firstId + index)).join(''));
    for (let id = 9; id <= 10; id++) await store.append(stream.id, id, [big(id)]);
    await store.finish(stream.id, 'done');
    for (let batch = await late.next(); !batch.done; batch = await late.next()) text += batch.value;
    expect(text).toBe(Array.from({ length: 11 - firstId }, (_, index) => big(firstId + index)).join(''));
  });

  it('stops a waiting reader when it is returned: the next() under way resolves done', async () => {
    const stream = meta();
    await store.create(stream);
    await store.commit(stream.id);
    const reader = store.read(stream.id, 0);
    const waiting = reader.next();
    await reader.return?.();
    expect(await waiting).toMatchObject({ done: true });
    await store.append(stream.id, 1, [event(1)]);
    expect(await reader.next()).toMatchObject({ done: true });
  });

  it('answers not_found for an unknown stream', async () => {
    await expect(collect(store.read('str_unknown_stream_id', 0))).rejects.toMatchObject({
      reason: 'not_found',
    });
    expect(await store.getMeta('str_unknown_stream_id')).toBeUndefined();
  });

  it('delivers a cancel request to the registered handler', async () => {
    const cancelled = new Promise<string>((resolve) => store.onCancelRequest(resolve));
    await store.requestCancel('str_cancel_me');
    expect(await cancelled).toBe('str_cancel_me');
  });
});

/** Starts each stream in `store` with its first event. */
async function startStreams(store: MemoryStore, streams: StreamMeta[], first = event(1)): Promise<void> {
  for (const stream of streams) {
    await store.create(stream);
    await store.commit(stream.id);
    await store.append(stream.id, 1, [first]);
  }
}

describe('memory store retention', () => {
  let now = 1_000;
  const retainingHalfASecond = () =>
    new MemoryStore({ retentionMs: 500, maxStreamBytes: 1000, sweepIntervalMs: 0, now: () => now });

  it('drops a finished stream after its retention and answers expired, not unknown', async () => {
    const store = retainingHalfASecond();
    const stream = meta();
    await startStreams(store, [stream]);
    await store.finish(stream.id, 'done');
    now += 499;
    store.sweep();
    expect(await store.getMeta(stream.id)).toMatchObject({ state: 'done' });
    now += 1;
    store.sweep();
    expect(await store.getMeta(stream.id)).toBe('expired');
    await expect(collect(store.read(stream.id, 0))).rejects.toMatchObject({
      reason: 'expired',
    });
    await store.close();
  });

  it('sweeps streams in the order they ended, not the order they started', async () => {
    const store = retainingHalfASecond();
    const [first, second] = [meta(), meta()];
    await startStreams(store, [first, second]);
    await store.finish(second.id, 'done');
    now += 400;
    await store.finish(first.id, 'done');
    now += 100;
    store.sweep();
    expect(await store.getMeta(second.id)).toBe('expired');
    expect(await store.getMeta(first.id)).toMatchObject({ state: 'done' });
    await store.close();
  });
});

describe('memory store bound (maxTotalBytes)', () => {
  const bytes = (count: number) => `data: ${'x'.repeat(count - 8)}\n\n`;

  it('drops the streams that ended longest ago once all streams hold too much, never a running one', async () => {
    const store = new MemoryStore({
      retentionMs: 60_000,
      maxStreamBytes: 100_000,
      sweepIntervalMs: 0,
      maxTotalBytes: 4 * RECORD_OVERHEAD_BYTES + 400,
    });
    const [oldest, older, running, newest] = [meta(), meta(), meta(), meta()];
    await startStreams(store, [oldest, older, running, newest], bytes(100));
    await store.finish(oldest.id, 'done');
    await store.finish(older.id, 'done');
    expect(store.totalBytes).toBe(4 * RECORD_OVERHEAD_BYTES + 400);
    // Over the bound, but only running streams could make room: nothing is dropped yet.
    await store.append(running.id, 2, [bytes(2000)]);
    expect(await store.getMeta(oldest.id)).toMatchObject({ state: 'done' });
    await store.finish(newest.id, 'done');
    // A stream ending makes room: the streams that ended longest ago go first, until all fit.
    expect(await store.getMeta(oldest.id)).toBe('expired');
    expect(await store.getMeta(older.id)).toBe('expired');
    expect(await store.getMeta(newest.id)).toMatchObject({ state: 'done' });
    expect(await store.getMeta(running.id)).toMatchObject({ state: 'streaming' });
    expect(store.totalBytes).toBe(2 * RECORD_OVERHEAD_BYTES + 2200);
    await expect(collect(store.read(oldest.id, 0))).rejects.toMatchObject({ reason: 'expired' });
    await store.finish(running.id, 'done');
    expect(await store.getMeta(running.id)).toMatchObject({ state: 'done' });
    await store.close();
  });

  it('keeps the newest ended streams that fit', async () => {
    const store = new MemoryStore({
      retentionMs: 60_000,
      maxStreamBytes: 100_000,
      sweepIntervalMs: 0,
      maxTotalBytes: 2 * (RECORD_OVERHEAD_BYTES + 100),
    });
    const streams = [meta(), meta(), meta()];
    for (const stream of streams) {
      await startStreams(store, [stream], bytes(100));
      await store.finish(stream.id, 'done');
    }
    const states = await Promise.all(streams.map((stream) => store.getMeta(stream.id)));
    expect(states.map((state) => (typeof state === 'object' ? state.state : state))).toEqual([
      'expired',
      'done',
      'done',
    ]);
    expect(await collect(store.read(streams[2]?.id as string, 0))).toBe(bytes(100));
    await store.close();
  });
});

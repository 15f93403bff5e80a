import { createFaultProxy, delay, type FaultProxy, type RedisServer, startRedisServer } from '@spool/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_STREAMS_PER_CALL } from './redis-append-script.js';
import { RedisKeys } from './redis-keys.js';
import { LOCAL_READ_AHEAD_EVENTS } from './redis-readers.js';
import { RedisStore, type RedisStoreOptions } from './redis-store.js';
import { SpoolReadError, StoreUnavailableError, type StreamMeta } from './store.js';

let counter = 0;
/** A new stream, created and committed on `store` (the upstream accepted). */
async function started(store: RedisStore): Promise<StreamMeta> {
  const stream = meta();
  await store.create(stream);
  await store.commit(stream.id);
  return stream;
}

function meta(): StreamMeta {
  counter++;
  return {
    id: `str_redis${counter}_${Date.now()}`,
    ownerId: 'owner',
    model: 'sim',
    createdAt: 0,
    state: 'pending',
  };
}

const event = (id: number) => `id: ${id}\ndata: e${id}\n\n`;
const events = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, index) => event(from + index)).join('');
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

async function collect(iterable: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const batch of iterable) text += batch;
  return text;
}

describe('redis spool store across instances and write-behind', () => {
  let redis: RedisServer;
  const keyPrefix = `rs${Date.now()}:`;
  const connect = (options: Partial<RedisStoreOptions> = {}) =>
    RedisStore.connect({
      url: redis.url,
      keyPrefix,
      retentionMs: 60_000,
      maxStreamBytes: 10_000,
      lostAfterMs: 1000,
      ...options,
    });
  let a: RedisStore;
  let b: RedisStore;

  beforeAll(async () => {
    redis = await startRedisServer();
    [a, b] = await Promise.all([connect(), connect()]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await redis.stop();
  });

  it('writes what is queued before it closes', async () => {
    const closing = await connect();
    const stream = await started(closing);
    await closing.append(stream.id, 1, [event(1), event(2)]);
    await closing.close();
    const reader = b.read(stream.id, 0);
    expect((await reader.next()).value).toBe(events(1, 2));
    await reader.return?.();
  });

  it('tails on another instance, exactly, a stream this one generates, from mid-stream to its end', async () => {
    const stream = await started(a);
    for (let id = 1; id <= 10; id++) await a.append(stream.id, id, [event(id)]);
    await nextTurn();
    const remote = collect(b.read(stream.id, 4));
    for (let id = 11; id <= 60; id++) {
      await a.append(stream.id, id, [event(id)]);
      if (id % 5 === 0) await nextTurn();
    }
    await a.finish(stream.id, 'done');
    expect(await remote).toBe(events(5, 60));
  });

  it('stops a reader on another instance when it is returned while it waits for a write', async () => {
    const stream = await started(a);
    await a.append(stream.id, 1, [event(1)]);
    await nextTurn();
    const reader = b.read(stream.id, 0);
    expect((await reader.next()).value).toBe(event(1));
    const waiting = reader.next();
    await reader.return?.();
    expect(await waiting).toMatchObject({ done: true });
    await a.finish(stream.id, 'done');
  });

  it('shares the last event id of a stream finished on one instance, written behind or through, with every other', async () => {
    const behind = await started(a);
    await a.append(behind.id, 1, [event(1), event(2), event(3)]);
    await a.finish(behind.id, 'done');
    expect(await b.getMeta(behind.id)).toMatchObject({ state: 'done', lastId: 3 });
    // b does not generate this one: its appends and its finish go straight to Redis.
    const through = await started(a);
    await b.append(through.id, 1, [event(1), event(2)]);
    await b.finish(through.id, 'cancelled');
    expect(await a.getMeta(through.id)).toMatchObject({ state: 'cancelled', lastId: 2 });
  });

  it('gives a local reader an event as it is recorded, not a Redis round trip later', async () => {
    const stream = await started(a);
    const iterator = a.read(stream.id, 0)[Symbol.asyncIterator]();
    const first = iterator.next();
    await a.append(stream.id, 1, [event(1)]);
    // The write to Redis goes out at the end of this turn; its reply comes later still.
    const beforeTheWrite = new Promise((resolve) => setImmediate(() => resolve('write under way')));
    expect(await Promise.race([first.then((batch) => batch.value), beforeTheWrite])).toBe(event(1));
    await a.finish(stream.id, 'done');
    expect(await collect(b.read(stream.id, 0))).toBe(event(1));
    await iterator.return?.(undefined);
  });

  it('writes a commit behind, yet never after the end of a stream that finished at once', async () => {
    const stream = await started(a);
    await a.finish(stream.id, 'error');
    expect(await b.getMeta(stream.id)).toMatchObject({ state: 'error' });
    const committed = await started(a);
    await nextTurn();
    // Same connection as the write behind, so ordered after it.
    expect(await a.getMeta(committed.id)).toMatchObject({ state: 'streaming' });
  });

  it('replays from Redis what is older than the in-memory window, then tails from memory', async () => {
    const small = await connect({ recentBytes: 60 });
    try {
      const stream = await started(small);
      for (let id = 1; id <= 30; id++) await small.append(stream.id, id, [event(id)]);
      await nextTurn();
      const reading = collect(small.read(stream.id, 0));
      for (let id = 31; id <= 40; id++) await small.append(stream.id, id, [event(id)]);
      await small.finish(stream.id, 'done');
      expect(await reading).toBe(events(1, 40));
    } finally {
      await small.close();
    }
  });

  it('stores a flush of more streams than one Lua call carries, each under its own ids', async () => {
    const streams: StreamMeta[] = [];
    for (let count = 0; count < 2 * MAX_STREAMS_PER_CALL + 5; count++) streams.push(await started(a));
    await Promise.all(
      streams.map((stream, index) => a.append(stream.id, 1, [event(index), event(index + 1)])),
    );
    await Promise.all(streams.map((stream) => a.finish(stream.id, 'done')));
    const replayed = await Promise.all(streams.map((stream) => collect(b.read(stream.id, 0))));
    expect(replayed).toEqual(streams.map((_, index) => event(index) + event(index + 1)));
  });

  it('stores the other streams of a flush when one stream cannot be appended to', async () => {
    const raw = new Redis(redis.url);
    try {
      const good = await started(a);
      const bad = await started(a);
      // The bad stream already holds a later id, so Redis refuses the XADD of its event 1.
      await raw.xadd(new RedisKeys(keyPrefix).events(bad.id), '0-100', 'd', 'x');
      // Both in one turn: one flush, one Lua call.
      const appending = [a.append(good.id, 1, [event(1)]), a.append(bad.id, 1, [event(1)])];
      await Promise.all(appending);
      await expect(a.finish(bad.id, 'done')).rejects.toBeInstanceOf(StoreUnavailableError);
      await a.finish(good.id, 'done');
      expect(await collect(b.read(good.id, 0))).toBe(event(1));
    } finally {
      raw.disconnect();
    }
  });

  it('refuses, rather than skips, events missing from the middle of a stream', async () => {
    const stream = await started(a);
    await a.append(stream.id, 1, [event(1)]);
    await nextTurn();
    // b does not generate the stream, so its append goes straight to Redis, leaving a hole at 2.
    await b.append(stream.id, 3, [event(3)]);
    const reading = collect(b.read(stream.id, 0));
    await expect(reading).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('ends a local reader with the store error when an append cannot be stored', async () => {
    const doomed = await startRedisServer();
    const store = await RedisStore.connect({
      url: doomed.url,
      retentionMs: 60_000,
      maxStreamBytes: 10_000,
      commandTimeoutMs: 500,
    });
    try {
      const stream = await started(store);
      await store.append(stream.id, 1, [event(1)]);
      const iterator = store.read(stream.id, 0)[Symbol.asyncIterator]();
      expect((await iterator.next()).value).toBe(event(1));
      const rest = (async () => {
        for (let batch = await iterator.next(); !batch.done; batch = await iterator.next());
      })().then(
        () => undefined,
        (error: unknown) => error,
      );
      await doomed.kill();
      let rejected: unknown;
      try {
        for (let id = 2; id <= 1000; id++) {
          await store.append(stream.id, id, [event(id)]);
          await nextTurn();
        }
      } catch (error) {
        rejected = error;
      }
      const finished = store.finish(stream.id, 'done');
      // Some append rejects, at the latest the finish: the generation learns the store failed.
      if (rejected === undefined) await expect(finished).rejects.toBeInstanceOf(StoreUnavailableError);
      else {
        expect(rejected).toBeInstanceOf(StoreUnavailableError);
        await finished.catch(() => {});
      }
      expect(await rest).toBeInstanceOf(StoreUnavailableError);
    } finally {
      await store.close();
      await doomed.stop();
    }
  });

  it('answers evicted to a reader on another instance whose resume point fell past the byte cap', async () => {
    const capped = await connect({ maxStreamBytes: 100 });
    try {
      const stream = await started(capped);
      for (let id = 1; id <= 20; id++) await capped.append(stream.id, id, [event(id)]);
      await nextTurn();
      await expect(collect(b.read(stream.id, 0))).rejects.toBeInstanceOf(SpoolReadError);
      await capped.finish(stream.id, 'done');
    } finally {
      await capped.close();
    }
  });

  describe('when retries race and instances die', () => {
    /** A store whose commands reach Redis through `proxy` (a slow or a dying network). */
    const connectThrough = (proxy: FaultProxy, options: Partial<RedisStoreOptions> = {}) =>
      connect({ url: `redis://127.0.0.1:${proxy.port}`, ...options });
    const target = () => ({ host: '127.0.0.1', port: Number(new URL(redis.url).port) });
    const keyed = (idempotencyKey: string): StreamMeta => ({ ...meta(), idempotencyKey });

    it('attaches a retry that claims the key while the first claim is still on its way, instead of creating a second stream', async () => {
      // The first instance's commands each take 150 ms to reach Redis: its claim is stored well
      // before anything it sends next.
      const proxy = await createFaultProxy({ target: target(), plan: [delay(150, 'up')] });
      const slow = await connectThrough(proxy);
      const observer = new Redis(redis.url);
      try {
        const key = `race-${Date.now()}`;
        const first = keyed(key);
        const winning = slow.create(first);
        const indexKey = new RedisKeys(keyPrefix).idempotency(first.ownerId, key);
        while ((await observer.exists(indexKey)) === 0) await nextTurn();
        const retry = await b.create(keyed(key));
        expect(retry).toMatchObject({ created: false, meta: { id: first.id } });
        expect(await winning).toMatchObject({ created: true });
      } finally {
        observer.disconnect();
        await slow.close();
        await proxy.close();
      }
    });

    it('ends a stream whose instance died with one numbered generation_lost event, and frees its key', async () => {
      const proxy = await createFaultProxy({ target: target() });
      const dying = await connectThrough(proxy);
      const key = `lost-${Date.now()}`;
      const stream = keyed(key);
      await dying.create(stream);
      await dying.commit(stream.id);
      await dying.append(stream.id, 1, [event(1), event(2)]);
      const reader = b.read(stream.id, 1);
      // Read from Redis: stored.
      expect((await reader.next()).value).toBe(event(2));
      const startedAt = performance.now();
      // The instance's connections go, and with them its liveness marks.
      await proxy.close();
      const lost = await collect(reader);
      const waitedMs = performance.now() - startedAt;
      // Numbered past what the dead instance may have served its own readers without storing it.
      const lostId = 2 + 1 + LOCAL_READ_AHEAD_EVENTS;
      expect(lost).toMatch(
        new RegExp(`^id: ${lostId}\\ndata: \\{"error":\\{.*"code":"generation_lost".*\\}\\}\\n\\n$`),
      );
      // lostAfterMs is 1000 here: within it and a liveness period (200 ms) of the last mark.
      expect(waitedMs).toBeLessThan(2_500);
      expect(await b.getMeta(stream.id)).toMatchObject({ state: 'error', lastId: lostId, lost: true });
      expect(await collect(a.read(stream.id, 0))).toBe(`${events(1, 2)}${lost}`);
      // The same key now starts a fresh generation.
      const retry = keyed(key);
      expect(await a.create(retry)).toMatchObject({ created: true, meta: { id: retry.id } });
      await a.commit(retry.id);
      await a.finish(retry.id, 'done');
      await dying.close();
    });

    it('refuses the finish of an instance taken for dead, keeping the stream ended as lost', async () => {
      // Marks itself alive only every 2 minutes: once its key is gone, it stays gone.
      const zombie = await connect({ lostAfterMs: 600_000 });
      const raw = new Redis(redis.url);
      try {
        const stream = await started(zombie);
        await zombie.append(stream.id, 1, [event(1)]);
        const reader = b.read(stream.id, 0);
        expect((await reader.next()).value).toBe(event(1));
        await reader.return?.();
        const keys = new RedisKeys(keyPrefix);
        const instanceId = await raw.hget(keys.meta(stream.id), 'instanceId');
        await raw.del(keys.instance(instanceId ?? ''));
        const lostId = 1 + 1 + LOCAL_READ_AHEAD_EVENTS;
        expect(await b.getMeta(stream.id)).toMatchObject({ state: 'error', lastId: lostId, lost: true });
        await expect(zombie.finish(stream.id, 'done')).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(await b.getMeta(stream.id)).toMatchObject({ state: 'error', lastId: lostId, lost: true });
        expect(await collect(b.read(stream.id, 1))).toMatch(
          new RegExp(`^id: ${lostId}\\ndata: .*"generation_lost"`),
        );
      } finally {
        raw.disconnect();
        await zombie.close();
      }
    });

    it('serves a reader on the generating instance at most LOCAL_READ_AHEAD_EVENTS past what Redis acknowledged', async () => {
      // Redis's replies take 200 ms to come back: nothing is acknowledged for a while.
      const proxy = await createFaultProxy({ target: target(), plan: [delay(200, 'down')] });
      const slow = await connectThrough(proxy, { maxAppendsInFlight: 1000 });
      try {
        const stream = await started(slow);
        const reader = slow.read(stream.id, 0);
        const count = LOCAL_READ_AHEAD_EVENTS + 10;
        void slow.append(
          stream.id,
          1,
          Array.from({ length: count }, (_, index) => event(index + 1)),
        );
        expect((await reader.next()).value).toBe(events(1, LOCAL_READ_AHEAD_EVENTS));
        // The rest once Redis acknowledged them.
        expect((await reader.next()).value).toBe(events(LOCAL_READ_AHEAD_EVENTS + 1, count));
        await slow.finish(stream.id, 'done');
        await reader.return?.();
      } finally {
        await slow.close();
        await proxy.close();
      }
    });
  });
});

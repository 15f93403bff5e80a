import type { Redis } from 'ioredis';
import { ITERATION_DONE } from '../iteration.js';
import { runRedis, unavailable } from './redis-errors.js';
import type { RedisKeys } from './redis-keys.js';
import type { RedisLocalWriter, WriterWaker } from './redis-local-writer.js';
import {
  evictedError,
  SpoolReadError,
  type SpoolReader,
  StoreUnavailableError,
  type StreamMeta,
} from './store.js';
import { type ReaderAnswer, WakeableReader } from './wakeable-reader.js';

const READ_BATCH = 512;

/**
 * How far ahead of what Redis acknowledged a reader on the generating instance may be served. A
 * client of an instance that dies may so hold events Redis never stored, at most this many past
 * the last stored one: the `generation_lost` event that ends such a stream is numbered past them
 * (its id skips), so that every client, wherever it was, still receives it on resume. Appends
 * rarely run this far ahead (the generation waits beyond `maxAppendsInFlight`, 64 by default).
 */
export const LOCAL_READ_AHEAD_EVENTS = 64;

/** What the readers need of the Redis store they read through. */
export interface RedisReaderContext {
  /** The command connection. */
  readonly redis: Redis;
  readonly keys: RedisKeys;
  readonly waiters: RedisNotifyWaiters;
  /**
   * How often an instance marks itself alive: a reader that heard nothing for this long reads the
   * stream's metadata again, which ends the stream as lost when its instance died.
   */
  readonly livenessIntervalMs: number;
  /** The store's own metadata lookup (with its expiry and loss rules). */
  getMeta(streamId: string): Promise<StreamMeta | 'expired' | undefined>;
}

/**
 * The readers waiting on each stream's notify channel: the channel is subscribed while a stream has
 * at least one waiter, on the store's pub/sub connection.
 */
export class RedisNotifyWaiters {
  readonly #subscriber: Redis;
  readonly #waiters = new Map<string, Set<() => void>>();

  /** @param subscriber The pub/sub connection, shared with the cancel channel. */
  constructor(subscriber: Redis) {
    this.#subscriber = subscriber;
  }

  /** Registers `waker` for a stream, subscribing its channel for the first waiter. */
  async add(streamId: string, channel: string, waker: () => void): Promise<void> {
    let waiters = this.#waiters.get(streamId);
    if (!waiters) {
      waiters = new Set();
      this.#waiters.set(streamId, waiters);
      await runRedis(() => this.#subscriber.subscribe(channel));
    }
    waiters.add(waker);
  }

  /** Removes `waker`, unsubscribing the stream's channel after its last waiter. */
  async remove(streamId: string, channel: string, waker: () => void): Promise<void> {
    const waiters = this.#waiters.get(streamId);
    if (!waiters) return;
    waiters.delete(waker);
    if (waiters.size === 0) {
      this.#waiters.delete(streamId);
      await this.#subscriber.unsubscribe(channel).catch(() => {});
    }
  }

  /** Wakes every reader waiting on a stream. */
  wake(streamId: string): void {
    for (const waker of this.#waiters.get(streamId) ?? []) waker();
  }

  /** Wakes every reader of every stream. */
  wakeAll(): void {
    for (const waiters of this.#waiters.values()) for (const waker of waiters) waker();
  }
}

/**
 * Reads a stream this instance generates: from memory as each event is recorded (its write to
 * Redis is under way; waiting for the acknowledgement put a Redis round trip, and the flush's
 * turn, in front of every token), from Redis only for events older than the in-memory window.
 * No pub/sub, no polling. A client may so hold an event Redis never stored, only when the stream
 * is failing anyway (Redis refused the write, or this instance died): a resume elsewhere then gets
 * what Redis has after the client's id, and the stream's end.
 * It is its own writer waker.
 */
export class RedisLocalReader extends WakeableReader implements WriterWaker {
  readonly #context: RedisReaderContext;
  readonly #streamId: string;
  readonly #writer: RedisLocalWriter;
  #cursor: number;

  constructor(context: RedisReaderContext, streamId: string, writer: RedisLocalWriter, afterId: number) {
    super();
    this.#context = context;
    this.#streamId = streamId;
    this.#writer = writer;
    this.#cursor = afterId;
  }

  /**
   * What the reader can answer now: the recorded events after its cursor, the end, a read of
   * Redis under way (events older than the in-memory window), or `undefined` when it must wait
   * (then it is registered with the writer). Throws the error the read ends with.
   */
  protected poll(): ReaderAnswer | undefined {
    const writer = this.#writer;
    const cursor = this.#cursor;
    if (writer.failure) throw unavailable(writer.failure);
    const servable = Math.min(writer.lastId, writer.ackedId + LOCAL_READ_AHEAD_EVENTS);
    if (cursor < servable) {
      if (cursor + 1 < writer.storedFirstId) throw evictedError(this.#streamId, cursor, writer.storedFirstId);
      if (cursor + 1 < writer.recentFirstId) {
        return this.#readOlder().catch((error: unknown) => {
          this.close();
          throw error;
        });
      }
      const bytes = writer.recordedAfter(cursor, servable);
      this.#cursor = servable;
      return { done: false, value: bytes };
    }
    if (writer.ended && cursor >= writer.lastId) {
      this.close();
      return ITERATION_DONE;
    }
    writer.onChange(this);
    return undefined;
  }

  /** Older than the in-memory window: from Redis, once Redis has it. */
  async #readOlder(): Promise<IteratorResult<string>> {
    const writer = this.#writer;
    const untilId = writer.recentFirstId - 1;
    if (writer.ackedId < untilId) {
      await writer.acknowledged(untilId);
      return this.next();
    }
    const stored = await readStored(this.#context, this.#streamId, this.#cursor, untilId);
    if (stored.entries === 0) throw evictedError(this.#streamId, this.#cursor, writer.storedFirstId);
    this.#cursor = stored.lastId;
    return stored.bytes ? { done: false, value: stored.bytes } : this.next();
  }

  protected release(): void {
    this.#writer.offChange(this);
  }
}

/**
 * A read of a stream generated by another instance, stopped by `return()` also while it waits: the
 * generator behind it is woken through an AbortSignal of its own (only shared reads pay for one).
 */
export class RedisSharedReader implements SpoolReader {
  readonly #controller = new AbortController();
  readonly #generator: AsyncGenerator<string>;

  /** @param read Starts the generator, which ends soon after its signal aborts. */
  constructor(read: (signal: AbortSignal) => AsyncGenerator<string>) {
    this.#generator = read(this.#controller.signal);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<string>> {
    return this.#generator.next();
  }

  pull(onResult: (result: IteratorResult<string>) => void, onError: (error: unknown) => void): void {
    this.#generator.next().then(onResult, onError);
  }

  return(): Promise<IteratorResult<string>> {
    this.#controller.abort();
    // Queued behind a `next()` under way, which the abort ends.
    return this.#generator.return(undefined);
  }
}

/**
 * Reads a stream generated by another instance (or already ended): XRANGE when its channel
 * announces a write. Metadata is fetched only when a wait times out, to notice an instance that
 * died without finishing (the lookup then ends the stream with a `generation_lost` event).
 */
export async function* readShared(
  context: RedisReaderContext,
  streamId: string,
  first: StreamMeta,
  afterId: number,
  signal: AbortSignal,
): AsyncGenerator<string> {
  let cursor = afterId;
  const channel = context.keys.notifyChannel(streamId);
  let pending = false;
  let wake: (() => void) | undefined;
  const waker = () => {
    pending = true;
    wake?.();
  };
  await context.waiters.add(streamId, channel, waker);
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  let meta: StreamMeta | undefined = first;
  let checkMeta = true;
  try {
    while (!signal.aborted) {
      pending = false;
      const stored = await readStored(context, streamId, cursor);
      if (stored.entries > 0) {
        cursor = stored.lastId;
        if (stored.bytes) yield stored.bytes;
        if (stored.ended) return;
        if (stored.entries === READ_BATCH) continue;
      } else if (checkMeta) {
        checkMeta = false;
        meta ??= await liveMeta(context, streamId);
        if (meta.failure) return;
        if (cursor + 1 < (meta.firstId ?? 1)) throw evictedError(streamId, cursor, meta.firstId ?? 1);
        // A live stream whose instance died was ended by that lookup (a `generation_lost` event).
        if (meta.state !== 'streaming' && meta.state !== 'pending' && !pending) {
          // Ended: the end entry is written with the state in one Lua step, so it is there now.
          const again = await readStored(context, streamId, cursor);
          if (again.entries === 0) {
            // Nothing after the resume point: fine when the end marker is before it.
            const [last] = await runRedis(() =>
              context.redis.xrevrange(context.keys.events(streamId), '+', '-', 'COUNT', 1),
            );
            if (last?.[1][0] === 'end') return;
            throw new StoreUnavailableError(`Stream ${streamId} ended without its end marker in Redis`);
          }
          pending = true;
        }
        meta = undefined;
      }
      if (pending) continue;
      // Woken by a publish, an abort, or the liveness period (to notice a dead generating instance).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          checkMeta = true;
          resolve();
        }, context.livenessIntervalMs);
        timer.unref();
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await context.waiters.remove(streamId, channel, waker);
  }
}

/**
 * Reads events after `cursor` (up to `untilId`) from Redis, checking that none is missing: a
 * hole at the start was evicted by the byte cap; one further on means a write was lost.
 */
async function readStored(
  context: RedisReaderContext,
  streamId: string,
  cursor: number,
  untilId?: number,
): Promise<{ bytes: string; lastId: number; ended: boolean; entries: number }> {
  const entries = await runRedis(() =>
    context.redis.xrange(
      context.keys.events(streamId),
      `(0-${cursor}`,
      untilId === undefined ? '+' : `0-${untilId}`,
      'COUNT',
      READ_BATCH,
    ),
  );
  let expected = cursor + 1;
  let bytes = '';
  let ended = false;
  for (const [entryId, fields] of entries) {
    const id = Number(entryId.slice(entryId.indexOf('-') + 1));
    // The event that ends a lost stream is numbered past what its dead instance may have served.
    if (fields[0] === 'lost') {
      bytes += fields[1] ?? '';
      expected = id + 1;
      continue;
    }
    if (id !== expected) {
      if (expected === cursor + 1) throw evictedError(streamId, cursor, id);
      throw new StoreUnavailableError(
        `Events ${expected}-${id - 1} of stream ${streamId} are missing from Redis (a write failed)`,
      );
    }
    if (fields[0] === 'end') {
      ended = true;
      break;
    }
    bytes += fields[1] ?? '';
    expected++;
  }
  return { bytes, lastId: expected - 1, ended, entries: entries.length };
}

async function liveMeta(context: RedisReaderContext, streamId: string): Promise<StreamMeta> {
  const meta = await context.getMeta(streamId);
  if (meta === undefined || meta === 'expired')
    throw new SpoolReadError('expired', `Stream ${streamId} has expired`);
  return meta;
}

/** The id of the last event stored in a stream's events (0 when none). */
export async function lastStoredId(redis: Redis, eventsKey: string): Promise<number> {
  const last = await redis.xrevrange(eventsKey, '+', '-', 'COUNT', 1);
  const entryId = last[0]?.[0];
  return entryId ? Number(entryId.split('-')[1]) : 0;
}

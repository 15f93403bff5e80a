import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RedisLocalWriter } from './redis-local-writer.js';
import {
  type CreateResult,
  type SpoolLimits,
  SpoolReadError,
  type SpoolStore,
  StoreUnavailableError,
  type StreamMeta,
  type StreamState,
} from './store.js';

/** Options of the Redis Streams store. */
export interface RedisStoreOptions extends SpoolLimits {
  /** `redis://host:port/db`. */
  url: string;
  /** Prefix of every key, so several deployments can share one Redis. @default 'spool:' */
  keyPrefix?: string;
  log?: Logger | undefined;
  /** Longest a command may take before the request fails with 503. @default 2000 */
  commandTimeoutMs?: number;
  /** How long an expired id keeps answering 410 rather than 404. @default 86400000 (a day) */
  tombstoneMs?: number;
  /** How often a generating instance marks its streams alive. @default 5000 */
  livenessIntervalMs?: number;
  /**
   * Appends of one stream that may await Redis's acknowledgement before the generation waits for
   * them (write-behind). @default 64
   */
  maxAppendsInFlight?: number;
  /**
   * Bytes of its most recent events an instance keeps of each stream it generates, to feed its own
   * readers without reading Redis (never more than `maxStreamBytes`). @default 1048576 (1 MiB)
   */
  recentBytes?: number;
}

type ResolvedOptions = RedisStoreOptions &
  Required<
    Pick<RedisStoreOptions, 'tombstoneMs' | 'livenessIntervalMs' | 'maxAppendsInFlight' | 'recentBytes'>
  >;

/** A stream left `streaming` this long without a liveness mark lost its generating instance. */
const ORPHAN_AFTER_INTERVALS = 4;
const READ_BATCH = 512;

/**
 * The shared spool: each stream is a Redis Stream whose entry ids are `0-<event id>`, so the
 * spool's numbering is Redis's own order; a final `end` entry marks the end in-band, so a reader
 * never sees the end before the last event. Readers wait on a per-stream pub/sub channel and read
 * with XRANGE; writers publish after each batch of XADDs, so any instance can tail any stream.
 *
 * On the relay path, appends are written behind (pipelined, batched per event-loop turn, a bounded
 * window in flight) and readers on the generating instance are fed from memory as Redis
 * acknowledges, so a stream costs no MULTI and no read round trip per event.
 */
export class RedisStore implements SpoolStore {
  readonly kind = 'redis';
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #options: ResolvedOptions;
  readonly #writers = new Map<string, RedisLocalWriter>();
  readonly #dirty = new Set<RedisLocalWriter>();
  #flushScheduled = false;
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #liveness: NodeJS.Timeout;
  #cancelHandler: (streamId: string) => void = () => {};

  private constructor(redis: Redis, subscriber: Redis, options: RedisStoreOptions) {
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#prefix = options.keyPrefix ?? 'spool:';
    this.#options = {
      tombstoneMs: 86_400_000,
      livenessIntervalMs: 5000,
      maxAppendsInFlight: 64,
      recentBytes: 1_048_576,
      ...options,
    };
    this.#subscriber.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    this.#liveness = setInterval(() => void this.#markAlive(), this.#options.livenessIntervalMs);
    this.#liveness.unref();
  }

  /** Connects (two connections: commands, and pub/sub) and fails fast when Redis cannot be reached. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const connectionOptions = {
      // Fail fast instead of queueing: a request must answer 503, not hang, while Redis is down.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      connectTimeout: 2000,
      lazyConnect: true,
      retryStrategy: (times: number) => Math.min(50 * 2 ** times, 2000),
    };
    const redis = new Redis(options.url, connectionOptions);
    const subscriber = new Redis(options.url, { ...connectionOptions, commandTimeout: undefined });
    for (const connection of [redis, subscriber]) {
      connection.on('error', (error: Error) => options.log?.warn({ err: error }, 'redis connection error'));
    }
    try {
      await Promise.all([redis.connect(), subscriber.connect()]);
    } catch (error) {
      redis.disconnect();
      subscriber.disconnect();
      throw new StoreUnavailableError(
        `Cannot connect to Redis at ${redactUrl(options.url)}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const store = new RedisStore(redis, subscriber, options);
    await subscriber.subscribe(store.#cancelChannel());
    return store;
  }

  #metaKey(streamId: string): string {
    return `${this.#prefix}s:${streamId}:meta`;
  }
  #eventsKey(streamId: string): string {
    return `${this.#prefix}s:${streamId}:events`;
  }
  #notifyChannel(streamId: string): string {
    return `${this.#prefix}s:${streamId}:notify`;
  }
  #cancelChannel(): string {
    return `${this.#prefix}cancel`;
  }
  #idempotencyKey(ownerId: string, key: string): string {
    return `${this.#prefix}idem:${ownerId.length}:${ownerId}:${key}`;
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof SpoolReadError) throw error;
      throw new StoreUnavailableError(`Redis is unavailable: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Longest a stream may run before its keys expire even if its instance dies without finishing. */
  get #liveTtlMs(): number {
    return this.#options.retentionMs + this.#options.tombstoneMs;
  }

  async create(meta: StreamMeta): Promise<CreateResult> {
    return this.#run(async () => {
      if (meta.idempotencyKey !== undefined) {
        const indexKey = this.#idempotencyKey(meta.ownerId, meta.idempotencyKey);
        const claimed = await this.#redis.set(indexKey, meta.id, 'PX', this.#liveTtlMs, 'NX');
        if (claimed === null) {
          const existingId = await this.#redis.get(indexKey);
          const existing = existingId ? await this.getMeta(existingId) : undefined;
          if (existing && existing !== 'expired') return { created: false, meta: existing };
          await this.#redis.set(indexKey, meta.id, 'PX', this.#liveTtlMs);
        }
      }
      await this.#redis
        .multi()
        .hset(this.#metaKey(meta.id), serializeMeta({ ...meta, aliveAt: Date.now(), firstId: 1 }))
        .pexpire(this.#metaKey(meta.id), this.#liveTtlMs)
        .exec();
      this.#writers.set(
        meta.id,
        new RedisLocalWriter(
          meta.id,
          meta.ownerId,
          meta.idempotencyKey,
          this.#options.maxStreamBytes,
          Math.min(this.#options.recentBytes, this.#options.maxStreamBytes),
        ),
      );
      return { created: true, meta };
    });
  }

  async commit(streamId: string): Promise<void> {
    await this.#run(() =>
      this.#redis.hset(this.#metaKey(streamId), 'state', 'streaming', 'aliveAt', Date.now()),
    );
  }

  async fail(streamId: string, failure: NonNullable<StreamMeta['failure']>): Promise<void> {
    const writer = this.#writers.get(streamId);
    this.#writers.delete(streamId);
    // Local readers of a stream that never started end empty, as shared readers do on `failure`.
    writer?.end('error');
    await this.#run(async () => {
      const meta = await this.getMeta(streamId);
      const multi = this.#redis
        .multi()
        .hset(
          this.#metaKey(streamId),
          'state',
          'error',
          'endedAt',
          Date.now(),
          'failure',
          JSON.stringify(failure),
        )
        .pexpire(this.#metaKey(streamId), this.#options.retentionMs);
      if (meta && meta !== 'expired' && meta.idempotencyKey !== undefined) {
        multi.del(this.#idempotencyKey(meta.ownerId, meta.idempotencyKey));
      }
      await multi.publish(this.#notifyChannel(streamId), 'end').exec();
    });
  }

  async append(streamId: string, id: number, bytes: string): Promise<void> {
    const writer = this.#writers.get(streamId);
    if (!writer) {
      // Not generated here (or already finished): write through, as nothing local tracks it.
      await this.#run(async () => {
        const results = await this.#redis
          .pipeline()
          .xadd(this.#eventsKey(streamId), `0-${id}`, 'd', bytes)
          .publish(this.#notifyChannel(streamId), String(id))
          .exec();
        const failed = results?.find(([error]) => error);
        if (failed) throw failed[0];
      });
      return;
    }
    if (writer.failure) throw writer.failure;
    writer.record(id, bytes);
    this.#dirty.add(writer);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // Everything appended in this turn of the event loop, on every stream, goes out in one write.
      setImmediate(() => this.#flush());
    }
    // Write-behind with a bounded window: the generation waits only when Redis falls behind.
    const behind = writer.lastId - this.#options.maxAppendsInFlight;
    if (writer.ackedId < behind) await writer.acknowledged(behind);
    if (writer.failure) throw writer.failure;
  }

  /**
   * Writes the queued appends of every stream in one pipeline (one connection keeps their order):
   * the XADDs, the trim when the byte cap moved, and one PUBLISH per stream for the whole batch.
   */
  #flush(): void {
    this.#flushScheduled = false;
    const pipeline = this.#redis.pipeline();
    const batches: Array<{ writer: RedisLocalWriter; streamId: string; lastId: number; commands: number }> =
      [];
    for (const writer of this.#dirty) {
      const streamId = writer.streamId;
      const { events, trimTo } = writer.takeQueued();
      const last = events.at(-1);
      if (!last) continue;
      const key = this.#eventsKey(streamId);
      let commands = 0;
      for (const [id, bytes] of events) {
        pipeline.xadd(key, `0-${id}`, 'd', bytes);
        commands++;
        if (id === 1) {
          pipeline.pexpire(key, this.#liveTtlMs);
          commands++;
        }
      }
      if (trimTo !== undefined) {
        pipeline.xtrim(key, 'MINID', `0-${trimTo}`).hset(this.#metaKey(streamId), 'firstId', trimTo);
        commands += 2;
      }
      pipeline.publish(this.#notifyChannel(streamId), String(last[0]));
      commands++;
      batches.push({ writer, streamId, lastId: last[0], commands });
    }
    this.#dirty.clear();
    if (batches.length === 0) return;
    const failAll = (error: unknown) => {
      for (const { writer } of batches) writer.fail(unavailable(error));
    };
    pipeline.exec().then((results) => {
      if (!results) return failAll(new Error('the pipeline was discarded'));
      let index = 0;
      for (const { writer, lastId, commands } of batches) {
        const failed = results.slice(index, index + commands).find(([error]) => error);
        index += commands;
        if (failed) writer.fail(unavailable(failed[0]));
        else writer.acknowledge(lastId);
      }
    }, failAll);
  }

  async finish(streamId: string, state: 'done' | 'error' | 'cancelled'): Promise<void> {
    const writer = this.#writers.get(streamId);
    try {
      if (writer) {
        await writer.acknowledged(writer.lastId);
        if (writer.failure) throw writer.failure;
      }
      await this.#run(async () => {
        let lastId: number;
        let owner: { ownerId: string; idempotencyKey?: string | undefined } | undefined;
        if (writer) {
          lastId = writer.lastId;
          owner = writer;
        } else {
          const meta = await this.getMeta(streamId);
          lastId = await this.#lastEventId(streamId);
          owner = meta && meta !== 'expired' ? meta : undefined;
        }
        const multi = this.#redis
          .multi()
          .xadd(this.#eventsKey(streamId), `0-${lastId + 1}`, 'end', state)
          .hset(this.#metaKey(streamId), 'state', state, 'endedAt', Date.now())
          .pexpire(this.#eventsKey(streamId), this.#options.retentionMs)
          .pexpire(this.#metaKey(streamId), this.#options.retentionMs + this.#options.tombstoneMs)
          .publish(this.#notifyChannel(streamId), 'end');
        if (owner?.idempotencyKey !== undefined) {
          multi.pexpire(this.#idempotencyKey(owner.ownerId, owner.idempotencyKey), this.#options.retentionMs);
        }
        const results = await multi.exec();
        const failed = results?.find(([error]) => error);
        if (failed) throw failed[0];
      });
      writer?.end(state);
    } catch (error) {
      writer?.fail(error as Error);
      throw error;
    } finally {
      if (this.#writers.get(streamId) === writer) this.#writers.delete(streamId);
    }
  }

  async #lastEventId(streamId: string): Promise<number> {
    const last = await this.#redis.xrevrange(this.#eventsKey(streamId), '+', '-', 'COUNT', 1);
    const entryId = last[0]?.[0];
    return entryId ? Number(entryId.split('-')[1]) : 0;
  }

  async getMeta(streamId: string): Promise<StreamMeta | 'expired' | undefined> {
    return this.#run(async () => {
      const [[, fields], [, eventsExist]] = (await this.#redis
        .multi()
        .hgetall(this.#metaKey(streamId))
        .exists(this.#eventsKey(streamId))
        .exec()) as [[null, Record<string, string>], [null, number]];
      if (!fields || Object.keys(fields).length === 0) return undefined;
      const meta = deserializeMeta(fields);
      const ended =
        meta.state === 'done' || meta.state === 'cancelled' || (meta.state === 'error' && !meta.failure);
      if (ended && (!eventsExist || Date.now() - (meta.endedAt ?? 0) >= this.#options.retentionMs))
        return 'expired';
      return meta;
    });
  }

  async *read(streamId: string, afterId: number, signal: AbortSignal): AsyncGenerator<string> {
    const first = await this.getMeta(streamId);
    if (first === undefined) throw new SpoolReadError('not_found', `No stream with id ${streamId}`);
    if (first === 'expired')
      throw new SpoolReadError('expired', `Stream ${streamId} has expired (spool.retentionMs)`);
    const writer = this.#writers.get(streamId);
    if (writer) yield* this.#readLocal(streamId, writer, afterId, signal);
    else yield* this.#readShared(streamId, first, afterId, signal);
  }

  /**
   * Reads a stream this instance generates: from memory as Redis acknowledges each write, from
   * Redis only for events older than the in-memory window. No pub/sub, no polling.
   */
  async *#readLocal(
    streamId: string,
    writer: RedisLocalWriter,
    afterId: number,
    signal: AbortSignal,
  ): AsyncGenerator<string> {
    let cursor = afterId;
    let cancel: (() => void) | undefined;
    let wake: (() => void) | undefined;
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        if (writer.failure) throw unavailable(writer.failure);
        if (cursor < writer.ackedId) {
          if (cursor + 1 < writer.storedFirstId) throw evictedError(streamId, cursor, writer.storedFirstId);
          if (cursor + 1 < writer.recentFirstId) {
            const stored = await this.#readStored(streamId, cursor, writer.recentFirstId - 1);
            if (stored.entries === 0) throw evictedError(streamId, cursor, writer.storedFirstId);
            cursor = stored.lastId;
            if (stored.bytes) yield stored.bytes;
            continue;
          }
          const bytes = writer.acknowledgedAfter(cursor);
          cursor = writer.ackedId;
          yield bytes;
          continue;
        }
        if (writer.ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          cancel = writer.onChange(resolve);
        });
        cancel?.();
        cancel = undefined;
        wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      cancel?.();
    }
  }

  /**
   * Reads events after `cursor` (up to `untilId`) from Redis, checking that none is missing: a
   * hole at the start was evicted by the byte cap; one further on means a write was lost.
   */
  async #readStored(
    streamId: string,
    cursor: number,
    untilId?: number,
  ): Promise<{ bytes: string; lastId: number; ended: boolean; entries: number }> {
    const entries = await this.#run(() =>
      this.#redis.xrange(
        this.#eventsKey(streamId),
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

  /**
   * Reads a stream generated by another instance (or already ended): XRANGE when its channel
   * announces a write. Metadata is fetched only when a wait times out, to notice an instance that
   * died without finishing.
   */
  async *#readShared(
    streamId: string,
    first: StreamMeta,
    afterId: number,
    signal: AbortSignal,
  ): AsyncGenerator<string> {
    let cursor = afterId;
    const channel = this.#notifyChannel(streamId);
    let pending = false;
    let wake: (() => void) | undefined;
    const waker = () => {
      pending = true;
      wake?.();
    };
    await this.#addWaiter(streamId, channel, waker);
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    let meta: StreamMeta | undefined = first;
    let checkMeta = true;
    try {
      while (!signal.aborted) {
        pending = false;
        const stored = await this.#readStored(streamId, cursor);
        if (stored.entries > 0) {
          cursor = stored.lastId;
          if (stored.bytes) yield stored.bytes;
          if (stored.ended) return;
          if (stored.entries === READ_BATCH) continue;
        } else if (checkMeta) {
          checkMeta = false;
          meta ??= await this.#liveMeta(streamId);
          if (meta.failure) return;
          if (cursor + 1 < (meta.firstId ?? 1)) throw evictedError(streamId, cursor, meta.firstId ?? 1);
          if (meta.state === 'streaming' || meta.state === 'pending') {
            const staleMs = this.#options.livenessIntervalMs * ORPHAN_AFTER_INTERVALS;
            if (Date.now() - (meta.aliveAt ?? 0) > staleMs) {
              throw new StoreUnavailableError(
                `The instance generating stream ${streamId} stopped without finishing it`,
              );
            }
          } else if (!pending) {
            // Ended: the end entry is written with the state in one MULTI, so it is there now.
            const again = await this.#readStored(streamId, cursor);
            if (again.entries === 0) {
              // Nothing after the resume point: fine when the end marker is before it.
              const [last] = await this.#run(() =>
                this.#redis.xrevrange(this.#eventsKey(streamId), '+', '-', 'COUNT', 1),
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
          }, this.#options.livenessIntervalMs);
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
      await this.#removeWaiter(streamId, channel, waker);
    }
  }

  async #liveMeta(streamId: string): Promise<StreamMeta> {
    const meta = await this.getMeta(streamId);
    if (meta === undefined || meta === 'expired')
      throw new SpoolReadError('expired', `Stream ${streamId} has expired`);
    return meta;
  }

  async #addWaiter(streamId: string, channel: string, waker: () => void): Promise<void> {
    let waiters = this.#waiters.get(streamId);
    if (!waiters) {
      waiters = new Set();
      this.#waiters.set(streamId, waiters);
      await this.#run(() => this.#subscriber.subscribe(channel));
    }
    waiters.add(waker);
  }

  async #removeWaiter(streamId: string, channel: string, waker: () => void): Promise<void> {
    const waiters = this.#waiters.get(streamId);
    if (!waiters) return;
    waiters.delete(waker);
    if (waiters.size === 0) {
      this.#waiters.delete(streamId);
      await this.#subscriber.unsubscribe(channel).catch(() => {});
    }
  }

  #wakeLocal(streamId: string): void {
    for (const waker of this.#waiters.get(streamId) ?? []) waker();
  }

  #onMessage(channel: string, message: string): void {
    if (channel === this.#cancelChannel()) {
      this.#cancelHandler(message);
      return;
    }
    const prefix = `${this.#prefix}s:`;
    if (channel.startsWith(prefix) && channel.endsWith(':notify')) {
      this.#wakeLocal(channel.slice(prefix.length, -':notify'.length));
    }
  }

  async #markAlive(): Promise<void> {
    if (this.#writers.size === 0) return;
    const now = Date.now();
    const pipeline = this.#redis.pipeline();
    for (const streamId of this.#writers.keys()) pipeline.hset(this.#metaKey(streamId), 'aliveAt', now);
    await pipeline
      .exec()
      .catch((error) => this.#options.log?.warn({ err: error }, 'could not mark streams alive'));
  }

  async requestCancel(streamId: string): Promise<void> {
    await this.#run(() => this.#redis.publish(this.#cancelChannel(), streamId));
  }

  onCancelRequest(handler: (streamId: string) => void): void {
    this.#cancelHandler = handler;
  }

  async ping(): Promise<void> {
    await this.#run(() => this.#redis.ping());
  }

  async close(): Promise<void> {
    clearInterval(this.#liveness);
    for (const waiters of this.#waiters.values()) for (const waker of waiters) waker();
    for (const writer of this.#writers.values())
      writer.fail(new StoreUnavailableError('The spool was closed'));
    await Promise.allSettled([this.#redis.quit(), this.#subscriber.quit()]);
  }
}

type StoredMeta = StreamMeta;

function serializeMeta(meta: StoredMeta): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(meta)) {
    if (value === undefined) continue;
    fields[name] = name === 'failure' ? JSON.stringify(value) : String(value);
  }
  return fields;
}

function deserializeMeta(fields: Record<string, string>): StoredMeta {
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  return {
    id: fields.id ?? '',
    ownerId: fields.ownerId ?? '',
    idempotencyKey: fields.idempotencyKey,
    bodyHash: fields.bodyHash,
    model: fields.model ?? '',
    createdAt: number(fields.createdAt) ?? 0,
    state: (fields.state ?? 'pending') as StreamState,
    endedAt: number(fields.endedAt),
    failure: fields.failure ? JSON.parse(fields.failure) : undefined,
    aliveAt: number(fields.aliveAt),
    firstId: number(fields.firstId),
  };
}

function evictedError(streamId: string, cursor: number, firstId: number): SpoolReadError {
  return new SpoolReadError(
    'evicted',
    `Events ${cursor + 1}-${firstId - 1} of stream ${streamId} were evicted (spool.maxStreamBytes)`,
  );
}

function unavailable(error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  return new StoreUnavailableError(`Redis is unavailable: ${(error as Error).message}`, { cause: error });
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}

import { Redis } from 'ioredis';
import type { Logger } from 'pino';
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
}

/** A stream left `streaming` this long without a liveness mark lost its generating instance. */
const ORPHAN_AFTER_INTERVALS = 4;
const READ_BATCH = 512;

interface LocalWriter {
  sizes: number[];
  firstId: number;
  bytes: number;
}

/**
 * The shared spool: each stream is a Redis Stream whose entry ids are `0-<event id>`, so the
 * spool's numbering is Redis's own order; a final `end` entry marks the end in-band, so a reader
 * never sees the end before the last event. Readers wait on a per-stream pub/sub channel and read
 * with XRANGE; writers publish after each XADD, so any instance can tail any stream.
 */
export class RedisStore implements SpoolStore {
  readonly kind = 'redis';
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #options: RedisStoreOptions & { tombstoneMs: number; livenessIntervalMs: number };
  readonly #writers = new Map<string, LocalWriter>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #liveness: NodeJS.Timeout;
  #cancelHandler: (streamId: string) => void = () => {};

  private constructor(redis: Redis, subscriber: Redis, options: RedisStoreOptions) {
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#prefix = options.keyPrefix ?? 'spool:';
    this.#options = { tombstoneMs: 86_400_000, livenessIntervalMs: 5000, ...options };
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
      this.#writers.set(meta.id, { sizes: [], firstId: 1, bytes: 0 });
      return { created: true, meta };
    });
  }

  async commit(streamId: string): Promise<void> {
    await this.#run(() =>
      this.#redis.hset(this.#metaKey(streamId), 'state', 'streaming', 'aliveAt', Date.now()),
    );
  }

  async fail(streamId: string, failure: NonNullable<StreamMeta['failure']>): Promise<void> {
    this.#writers.delete(streamId);
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
    await this.#run(async () => {
      const multi = this.#redis
        .multi()
        .xadd(this.#eventsKey(streamId), `0-${id}`, 'd', bytes)
        .publish(this.#notifyChannel(streamId), String(id));
      if (id === 1) multi.pexpire(this.#eventsKey(streamId), this.#liveTtlMs);
      if (writer) {
        writer.sizes.push(bytes.length);
        writer.bytes += bytes.length;
        let evicted = false;
        while (writer.bytes > this.#options.maxStreamBytes && writer.sizes.length > 1) {
          writer.bytes -= writer.sizes.shift() as number;
          writer.firstId++;
          evicted = true;
        }
        if (evicted) {
          multi.xtrim(this.#eventsKey(streamId), 'MINID', `0-${writer.firstId}`);
          multi.hset(this.#metaKey(streamId), 'firstId', writer.firstId);
        }
      }
      const results = await multi.exec();
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0];
    });
    this.#wakeLocal(streamId);
  }

  async finish(streamId: string, state: 'done' | 'error' | 'cancelled'): Promise<void> {
    this.#writers.delete(streamId);
    await this.#run(async () => {
      const meta = await this.getMeta(streamId);
      const lastId = await this.#lastEventId(streamId);
      const multi = this.#redis
        .multi()
        .xadd(this.#eventsKey(streamId), `0-${lastId + 1}`, 'end', state)
        .hset(this.#metaKey(streamId), 'state', state, 'endedAt', Date.now())
        .pexpire(this.#eventsKey(streamId), this.#options.retentionMs)
        .pexpire(this.#metaKey(streamId), this.#options.retentionMs + this.#options.tombstoneMs)
        .publish(this.#notifyChannel(streamId), 'end');
      if (meta && meta !== 'expired' && meta.idempotencyKey !== undefined) {
        multi.pexpire(this.#idempotencyKey(meta.ownerId, meta.idempotencyKey), this.#options.retentionMs);
      }
      await multi.exec();
    });
    this.#wakeLocal(streamId);
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
    let cursor = afterId;
    const channel = this.#notifyChannel(streamId);
    const key = this.#eventsKey(streamId);
    let pending = false;
    let wake: (() => void) | undefined;
    const waker = () => {
      pending = true;
      wake?.();
    };
    await this.#addWaiter(streamId, channel, waker);
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        pending = false;
        const entries = await this.#run(() =>
          this.#redis.xrange(key, `(0-${cursor}`, '+', 'COUNT', READ_BATCH),
        );
        if (entries.length > 0) {
          const firstId = Number((entries[0] as [string, string[]])[0].split('-')[1]);
          if (firstId > cursor + 1) {
            throw new SpoolReadError(
              'evicted',
              `Events ${cursor + 1}-${firstId - 1} of stream ${streamId} were evicted (spool.maxStreamBytes)`,
            );
          }
          let batch = '';
          let ended = false;
          for (const [entryId, fields] of entries) {
            if (fields[0] === 'end') {
              ended = true;
              break;
            }
            batch += fields[1] ?? '';
            cursor = Number(entryId.split('-')[1]);
          }
          if (batch) yield batch;
          if (ended) return;
          continue;
        }
        const meta = await this.getMeta(streamId);
        if (meta === undefined || meta === 'expired')
          throw new SpoolReadError('expired', `Stream ${streamId} has expired`);
        if (meta.failure) return;
        if (cursor + 1 < (meta.firstId ?? 1)) {
          throw new SpoolReadError(
            'evicted',
            `Events before ${meta.firstId} of stream ${streamId} were evicted (spool.maxStreamBytes)`,
          );
        }
        const staleMs = this.#options.livenessIntervalMs * ORPHAN_AFTER_INTERVALS;
        if (
          (meta.state === 'streaming' || meta.state === 'pending') &&
          Date.now() - (meta.aliveAt ?? 0) > staleMs
        ) {
          throw new StoreUnavailableError(
            `The instance generating stream ${streamId} stopped without finishing it`,
          );
        }
        if (pending) continue;
        // Woken by a publish, an abort, or the liveness period (to notice a dead generating instance).
        await new Promise<void>((resolve) => {
          wake = resolve;
          const timer = setTimeout(resolve, this.#options.livenessIntervalMs);
          timer.unref();
        });
        wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await this.#removeWaiter(streamId, channel, waker);
    }
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
    const multi = this.#redis.multi();
    for (const streamId of this.#writers.keys()) multi.hset(this.#metaKey(streamId), 'aliveAt', now);
    await multi
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

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}

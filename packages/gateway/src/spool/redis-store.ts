import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConnections } from '../redis/redis-connections.js';
import { runRedis } from './redis-errors.js';
import { defineFinishScript, runFinishScript } from './redis-finish-script.js';
import { RedisIdempotencyClaims } from './redis-idempotency-claims.js';
import { RedisInstanceLiveness } from './redis-instance-liveness.js';
import { RedisKeys } from './redis-keys.js';
import { deserializeMeta, serializeMeta } from './redis-meta.js';
import {
  lastStoredId,
  RedisLocalReader,
  RedisNotifyWaiters,
  type RedisReaderContext,
  RedisSharedReader,
  readShared,
} from './redis-readers.js';
import { connectSpool, releaseSpool, type SpoolConnections } from './redis-spool-connections.js';
import { RedisWriteBehind } from './redis-write-behind.js';
import {
  type CreateResult,
  type SpoolLimits,
  SpoolReadError,
  type SpoolReader,
  type SpoolStore,
  StoreUnavailableError,
  type StreamMeta,
} from './store.js';

/** Options of the Redis Streams store; their defaults are {@link REDIS_STORE_DEFAULTS}. */
export interface RedisStoreOptions extends SpoolLimits {
  /** `redis://host:port/db`. */
  url: string;
  /**
   * Connections to share (the gateway's: one command connection for the spool, limits, usage and
   * cache); by default the store opens its own. The store adds a subscriber of its own either way.
   */
  connections?: RedisConnections | undefined;
  /** Prefix of every key, so several deployments can share one Redis. @default 'spool:' */
  keyPrefix?: string;
  log?: Logger | undefined;
  /**
   * Longest a command may take before the request fails with 503, on the connections the store
   * opens itself (shared `connections` have their own command timeout). @default 2000
   */
  commandTimeoutMs?: number;
  /** How long an expired id keeps answering 410 rather than 404. @default 86400000 (a day) */
  tombstoneMs?: number;
  /**
   * How long an instance may go without marking itself alive before the streams it generates are
   * taken as lost: each then ends with one `generation_lost` error event, and its idempotency key
   * is freed. Instances mark themselves alive five times in this period. @default 5000
   */
  lostAfterMs?: number;
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

/** The defaults of {@link RedisStoreOptions}. */
const REDIS_STORE_DEFAULTS = {
  keyPrefix: 'spool:',
  commandTimeoutMs: 2000,
  tombstoneMs: 86_400_000,
  lostAfterMs: 5000,
  maxAppendsInFlight: 64,
  recentBytes: 1_048_576,
} as const;

type ResolvedOptions = RedisStoreOptions & Required<Omit<RedisStoreOptions, 'connections' | 'log'>>;

/**
 * The shared spool: each stream is a Redis Stream whose entry ids are `0-<event id>`, so the
 * spool's numbering is Redis's own order; a final `end` entry marks the end in-band, so a reader
 * never sees the end before the last event. Readers wait on a per-stream pub/sub channel and read
 * with XRANGE; writers publish after each batch of XADDs, so any instance can tail any stream.
 *
 * The parts, each in its own file: the connections (`redis-spool-connections.ts`), idempotency
 * claims (`redis-idempotency-claims.ts`), the write-behind flush (`redis-write-behind.ts`), the
 * readers (`redis-readers.ts`) and instance liveness, which ends the streams of a dead instance
 * with a `generation_lost` event (`redis-instance-liveness.ts`). This class joins them into the
 * `SpoolStore` contract.
 */
export class RedisStore implements SpoolStore {
  readonly kind = 'redis';
  readonly #connections: SpoolConnections;
  readonly #redis: Redis;
  readonly #keys: RedisKeys;
  readonly #options: ResolvedOptions;
  readonly #writes: RedisWriteBehind;
  readonly #claims: RedisIdempotencyClaims;
  readonly #liveness: RedisInstanceLiveness;
  readonly #waiters: RedisNotifyWaiters;
  readonly #readers: RedisReaderContext;
  #cancelHandler: (streamId: string) => void = () => {};

  private constructor(connections: SpoolConnections, options: RedisStoreOptions) {
    this.#connections = connections;
    const redis = connections.commands.redis;
    const subscriber = connections.subscriber.redis;
    this.#redis = redis;
    this.#options = { ...REDIS_STORE_DEFAULTS, ...options };
    this.#keys = new RedisKeys(this.#options.keyPrefix);
    defineFinishScript(redis);
    this.#writes = new RedisWriteBehind(redis, this.#keys, {
      maxAppendsInFlight: this.#options.maxAppendsInFlight,
      maxStreamBytes: this.#options.maxStreamBytes,
      recentBytes: this.#options.recentBytes,
      liveTtlMs: this.#liveTtlMs,
    });
    this.#claims = new RedisIdempotencyClaims(redis, this.#keys, (streamId) => this.getMeta(streamId));
    this.#liveness = new RedisInstanceLiveness(redis, this.#keys, {
      lostAfterMs: this.#options.lostAfterMs,
      eventsRetentionMs: this.#options.retentionMs,
      metaRetentionMs: this.#options.retentionMs + this.#options.tombstoneMs,
      log: this.#options.log,
    });
    this.#waiters = new RedisNotifyWaiters(subscriber);
    this.#readers = {
      redis,
      keys: this.#keys,
      waiters: this.#waiters,
      livenessIntervalMs: this.#liveness.intervalMs,
      getMeta: (streamId) => this.getMeta(streamId),
    };
    subscriber.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
  }

  /**
   * Connects (a command connection, shared when `options.connections` is given, and a pub/sub
   * subscriber of its own) and fails fast when Redis cannot be reached.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const connections = await connectSpool({
      url: options.url,
      connections: options.connections,
      commandTimeoutMs: options.commandTimeoutMs ?? REDIS_STORE_DEFAULTS.commandTimeoutMs,
      log: options.log,
    });
    const store = new RedisStore(connections, options);
    try {
      await runRedis(() => store.#liveness.start());
      await connections.subscriber.redis.subscribe(store.#keys.cancelChannel());
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** Longest a stream may run before its keys expire even if its instance dies without finishing. */
  get #liveTtlMs(): number {
    return this.#options.retentionMs + this.#options.tombstoneMs;
  }

  async create(meta: StreamMeta): Promise<CreateResult> {
    return runRedis(async () => {
      const fields = serializeMeta({ ...meta, instanceId: this.#liveness.instanceId, firstId: 1 });
      if (meta.idempotencyKey !== undefined) {
        const existing = await this.#claims.claim({
          streamId: meta.id,
          ownerId: meta.ownerId,
          idempotencyKey: meta.idempotencyKey,
          fields,
          liveTtlMs: this.#liveTtlMs,
        });
        if (existing) return { created: false, meta: existing };
      } else {
        await this.#redis
          .multi()
          .hset(this.#keys.meta(meta.id), fields)
          .pexpire(this.#keys.meta(meta.id), this.#liveTtlMs)
          .exec();
      }
      this.#writes.start(meta.id, meta.ownerId, meta.idempotencyKey);
      return { created: true, meta };
    });
  }

  async commit(streamId: string): Promise<void> {
    const writer = this.#writes.writer(streamId);
    if (writer) this.#writes.commit(writer);
    else await runRedis(() => this.#redis.hset(this.#keys.meta(streamId), 'state', 'streaming'));
  }

  async fail(streamId: string, failure: NonNullable<StreamMeta['failure']>): Promise<void> {
    const writer = this.#writes.writer(streamId);
    this.#writes.stop(streamId, writer);
    // Local readers of a stream that never started end empty, as shared readers do on `failure`.
    writer?.end('error');
    await runRedis(async () => {
      const meta = await this.getMeta(streamId);
      const multi = this.#redis
        .multi()
        .hset(
          this.#keys.meta(streamId),
          'state',
          'error',
          'endedAt',
          Date.now(),
          'failure',
          JSON.stringify(failure),
        )
        .pexpire(this.#keys.meta(streamId), this.#options.retentionMs);
      if (meta && meta !== 'expired' && meta.idempotencyKey !== undefined) {
        multi.del(this.#keys.idempotency(meta.ownerId, meta.idempotencyKey));
      }
      await multi.publish(this.#keys.notifyChannel(streamId), 'end').exec();
    });
  }

  append(streamId: string, firstId: number, events: readonly string[]): Promise<void> | undefined {
    return this.#writes.append(streamId, firstId, events);
  }

  async finish(streamId: string, state: 'done' | 'error' | 'cancelled'): Promise<void> {
    const writer = this.#writes.writer(streamId);
    try {
      if (writer) await this.#writes.drained(writer);
      await runRedis(async () => {
        let lastId: number;
        let owner: { ownerId: string; idempotencyKey?: string | undefined } | undefined;
        if (writer) {
          lastId = writer.lastId;
          owner = writer;
        } else {
          const meta = await this.getMeta(streamId);
          lastId = await lastStoredId(this.#redis, this.#keys.events(streamId));
          owner = meta && meta !== 'expired' ? meta : undefined;
        }
        const ended = await runFinishScript(this.#redis, {
          eventsKey: this.#keys.events(streamId),
          metaKey: this.#keys.meta(streamId),
          notifyChannel: this.#keys.notifyChannel(streamId),
          idempotencyKey:
            owner?.idempotencyKey === undefined
              ? undefined
              : this.#keys.idempotency(owner.ownerId, owner.idempotencyKey),
          lastId,
          state,
          now: Date.now(),
          eventsRetentionMs: this.#options.retentionMs,
          metaRetentionMs: this.#options.retentionMs + this.#options.tombstoneMs,
        });
        if (ended === 0) {
          throw new StoreUnavailableError(
            `Stream ${streamId} was already ended: this instance was taken for dead (spool.lostAfterMs)`,
          );
        }
      });
      writer?.end(state);
    } catch (error) {
      writer?.fail(error as Error);
      throw error;
    } finally {
      this.#writes.stop(streamId, writer);
    }
  }

  getMeta(streamId: string): Promise<StreamMeta | 'expired' | undefined> {
    return this.#getMeta(streamId, true);
  }

  /** The stream's meta; a live stream whose instance died is first ended as lost when `mayConclude`. */
  async #getMeta(streamId: string, mayConclude: boolean): Promise<StreamMeta | 'expired' | undefined> {
    return runRedis(async () => {
      const { fields, eventsExist, instanceAlive } = await this.#liveness.readMeta(streamId);
      if (Object.keys(fields).length === 0) return undefined;
      const meta = deserializeMeta(fields);
      const live = meta.state === 'pending' || meta.state === 'streaming';
      // A stream generated here is alive whatever Redis says of this instance's key.
      if (live && !instanceAlive && mayConclude && !this.#writes.writer(streamId)) {
        await this.#liveness.concludeLost(meta);
        return this.#getMeta(streamId, false);
      }
      const ended =
        meta.state === 'done' || meta.state === 'cancelled' || (meta.state === 'error' && !meta.failure);
      if (ended && (!eventsExist || Date.now() - (meta.endedAt ?? 0) >= this.#options.retentionMs))
        return 'expired';
      return meta;
    });
  }

  read(streamId: string, afterId: number): SpoolReader {
    // A stream generated here is known without asking Redis: no round trip before its first byte.
    const writer = this.#writes.writer(streamId);
    if (writer) return new RedisLocalReader(this.#readers, streamId, writer, afterId);
    return new RedisSharedReader((signal) => this.#readShared(streamId, afterId, signal));
  }

  async *#readShared(streamId: string, afterId: number, signal: AbortSignal): AsyncGenerator<string> {
    const first = await this.getMeta(streamId);
    if (first === undefined) throw new SpoolReadError('not_found', `No stream with id ${streamId}`);
    if (first === 'expired')
      throw new SpoolReadError('expired', `Stream ${streamId} has expired (spool.retentionMs)`);
    yield* readShared(this.#readers, streamId, first, afterId, signal);
  }

  #onMessage(channel: string, message: string): void {
    if (channel === this.#keys.cancelChannel()) {
      this.#cancelHandler(message);
      return;
    }
    const streamId = this.#keys.streamOfNotifyChannel(channel);
    if (streamId !== undefined) this.#waiters.wake(streamId);
  }

  async forget(streamId: string): Promise<void> {
    if (this.#writes.writer(streamId)) return;
    await runRedis(async () => {
      const state = await this.#redis.hget(this.#keys.meta(streamId), 'state');
      if (state === 'done' || state === 'error' || state === 'cancelled')
        await this.#redis.del(this.#keys.meta(streamId), this.#keys.events(streamId));
    });
  }

  async requestCancel(streamId: string): Promise<void> {
    await runRedis(() => this.#redis.publish(this.#keys.cancelChannel(), streamId));
  }

  onCancelRequest(handler: (streamId: string) => void): void {
    this.#cancelHandler = handler;
  }

  async ping(): Promise<void> {
    await runRedis(() => this.#redis.ping());
  }

  async close(): Promise<void> {
    this.#liveness.stop();
    // What is queued goes out ahead of the QUIT rather than after it.
    this.#writes.close(new StoreUnavailableError('The spool was closed'));
    this.#waiters.wakeAll();
    await releaseSpool(this.#connections);
  }
}

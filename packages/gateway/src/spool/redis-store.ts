import { randomBytes } from 'node:crypto';
import { encodeEvent, errorBody } from '@spool/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createRedisConnection } from '../redis/redis-connection.js';
import {
  type AppendCall,
  appendFailure,
  defineAppendScript,
  MAX_STREAMS_PER_CALL,
  queueAppends,
} from './redis-append-script.js';
import { runRedis, unavailable } from './redis-errors.js';
import { RedisKeys } from './redis-keys.js';
import { RedisLifecycleScripts } from './redis-lifecycle-scripts.js';
import { RedisLocalWriter } from './redis-local-writer.js';
import { deserializeMeta, serializeMeta } from './redis-meta.js';
import {
  LOCAL_READ_AHEAD_EVENTS,
  RedisLocalReader,
  RedisNotifyWaiters,
  type RedisReaderContext,
  RedisSharedReader,
  readShared,
} from './redis-readers.js';
import {
  type CreateResult,
  type SpoolLimits,
  SpoolReadError,
  type SpoolReader,
  type SpoolStore,
  StoreUnavailableError,
  type StreamMeta,
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

type ResolvedOptions = RedisStoreOptions &
  Required<Pick<RedisStoreOptions, 'tombstoneMs' | 'lostAfterMs' | 'maxAppendsInFlight' | 'recentBytes'>>;

/** Liveness marks per `lostAfterMs`: a mark or two may be late without the instance taken for dead. */
const LIVENESS_MARKS_PER_PERIOD = 5;
/** Claims of an idempotency key tried before giving up (each lost one is replaced by the next). */
const CLAIM_ATTEMPTS = 3;

/**
 * The shared spool: each stream is a Redis Stream whose entry ids are `0-<event id>`, so the
 * spool's numbering is Redis's own order; a final `end` entry marks the end in-band, so a reader
 * never sees the end before the last event. Readers wait on a per-stream pub/sub channel and read
 * with XRANGE; writers publish after each batch of XADDs, so any instance can tail any stream.
 *
 * Each instance keeps a liveness key (with a TTL) alive while it runs. A stream whose instance's
 * key expired before the stream ended is ended by whichever instance notices first (a reader's
 * wait, a resume, a retry of its idempotency key): one numbered `generation_lost` error event, the
 * end, and its key freed, so a retry starts a fresh generation under a new stream id.
 *
 * On the relay path, appends are written behind (pipelined, batched per event-loop turn, a bounded
 * window in flight) and readers on the generating instance are fed from memory as events are
 * recorded, so a stream costs no MULTI and no read round trip per event.
 */
export class RedisStore implements SpoolStore {
  readonly kind = 'redis';
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #keys: RedisKeys;
  readonly #options: ResolvedOptions;
  readonly #writers = new Map<string, RedisLocalWriter>();
  readonly #dirty = new Set<RedisLocalWriter>();
  #flushScheduled = false;
  readonly #waiters: RedisNotifyWaiters;
  readonly #readers: RedisReaderContext;
  readonly #liveness: NodeJS.Timeout;
  readonly #lifecycle: RedisLifecycleScripts;
  /** This process's id among the instances sharing the Redis (named in the meta of its streams). */
  readonly #instanceId = randomBytes(12).toString('base64url');
  #cancelHandler: (streamId: string) => void = () => {};

  private constructor(redis: Redis, subscriber: Redis, options: RedisStoreOptions) {
    this.#redis = redis;
    defineAppendScript(redis);
    this.#lifecycle = new RedisLifecycleScripts(redis);
    this.#subscriber = subscriber;
    this.#keys = new RedisKeys(options.keyPrefix ?? 'spool:');
    this.#options = {
      tombstoneMs: 86_400_000,
      lostAfterMs: 5000,
      maxAppendsInFlight: 64,
      recentBytes: 1_048_576,
      ...options,
    };
    this.#waiters = new RedisNotifyWaiters(subscriber);
    this.#readers = {
      redis,
      keys: this.#keys,
      waiters: this.#waiters,
      livenessIntervalMs: this.#livenessIntervalMs,
      getMeta: (streamId) => this.getMeta(streamId),
    };
    this.#subscriber.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    this.#liveness = setInterval(() => void this.#markAlive(), this.#livenessIntervalMs);
    this.#liveness.unref();
  }

  /** Connects (two connections: commands, and pub/sub) and fails fast when Redis cannot be reached. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const onError = (error: Error) => options.log?.warn({ err: error }, 'redis connection error');
    const redis = createRedisConnection(options.url, {
      commandTimeoutMs: options.commandTimeoutMs ?? 2000,
      onError,
    });
    const subscriber = createRedisConnection(options.url, { commandTimeoutMs: undefined, onError });
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
    try {
      await runRedis(() => store.#setAlive());
      await subscriber.subscribe(store.#keys.cancelChannel());
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  get #livenessIntervalMs(): number {
    return this.#options.lostAfterMs / LIVENESS_MARKS_PER_PERIOD;
  }

  /** Longest a stream may run before its keys expire even if its instance dies without finishing. */
  get #liveTtlMs(): number {
    return this.#options.retentionMs + this.#options.tombstoneMs;
  }

  async create(meta: StreamMeta): Promise<CreateResult> {
    return runRedis(async () => {
      const fields = serializeMeta({ ...meta, instanceId: this.#instanceId, firstId: 1 });
      if (meta.idempotencyKey !== undefined) {
        const existing = await this.#claim(meta.id, meta.ownerId, meta.idempotencyKey, fields);
        if (existing) return { created: false, meta: existing };
      } else {
        await this.#redis
          .multi()
          .hset(this.#keys.meta(meta.id), fields)
          .pexpire(this.#keys.meta(meta.id), this.#liveTtlMs)
          .exec();
      }
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

  /**
   * Claims an idempotency key for a new stream, writing its meta in the same step; returns the
   * stream already under the key instead, unless that one expired or was lost (then it is replaced).
   */
  async #claim(
    streamId: string,
    ownerId: string,
    idempotencyKey: string,
    fields: Record<string, string>,
  ): Promise<StreamMeta | undefined> {
    let replaceId: string | undefined;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const existingId = await this.#lifecycle.claim({
        indexKey: this.#keys.idempotency(ownerId, idempotencyKey),
        metaKey: this.#keys.meta(streamId),
        streamId,
        liveTtlMs: this.#liveTtlMs,
        streamKeyPrefix: this.#keys.streamPrefix(),
        replaceId,
        fields,
      });
      if (existingId === null) return undefined;
      const existing = await this.getMeta(existingId);
      if (existing !== undefined && existing !== 'expired' && !existing.lost) return existing;
      replaceId = existingId;
    }
    throw new StoreUnavailableError(
      `The Idempotency-Key's stream changed hands ${CLAIM_ATTEMPTS} times while it was claimed; retry the request`,
    );
  }

  async commit(streamId: string): Promise<void> {
    const writer = this.#writers.get(streamId);
    if (!writer) {
      await runRedis(() => this.#redis.hset(this.#keys.meta(streamId), 'state', 'streaming'));
      return;
    }
    // Written behind, ahead of the first events in the same pipeline: nothing waits on it but a
    // reader on another instance polling a pending stream, and one round trip less stands between
    // the upstream's first token and the client.
    writer.commitPending = true;
    this.#markDirty(writer);
  }

  async fail(streamId: string, failure: NonNullable<StreamMeta['failure']>): Promise<void> {
    const writer = this.#writers.get(streamId);
    this.#writers.delete(streamId);
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
    if (events.length === 0) return undefined;
    const writer = this.#writers.get(streamId);
    // Not generated here (or already finished): written through, as nothing local tracks it.
    if (!writer) return this.#appendThrough(streamId, firstId, events);
    if (writer.failure) return Promise.reject(writer.failure);
    try {
      writer.record(firstId, events);
    } catch (error) {
      return Promise.reject(error);
    }
    writer.wake();
    this.#markDirty(writer);
    // Write-behind with a bounded window: the generation waits only when Redis falls behind.
    const behind = writer.lastId - this.#options.maxAppendsInFlight;
    return writer.ackedId < behind ? this.#catchUp(writer, behind) : undefined;
  }

  async #catchUp(writer: RedisLocalWriter, untilId: number): Promise<void> {
    await writer.acknowledged(untilId);
    if (writer.failure) throw writer.failure;
  }

  async #appendThrough(streamId: string, firstId: number, events: readonly string[]): Promise<void> {
    await runRedis(async () => {
      const pipeline = this.#redis.pipeline();
      events.forEach((bytes, index) => {
        pipeline.xadd(this.#keys.events(streamId), `0-${firstId + index}`, 'd', bytes);
      });
      const results = await pipeline
        .publish(this.#keys.notifyChannel(streamId), String(firstId + events.length - 1))
        .exec();
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0];
    });
  }

  /** Queues a stream for the next write; everything queued in one turn of the event loop goes out in one. */
  #markDirty(writer: RedisLocalWriter): void {
    this.#dirty.add(writer);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /**
   * Writes the queued appends of every stream in one pipeline (one connection keeps their order),
   * one Lua call per group of streams (see `redis-append-script.ts`).
   */
  #flush(): void {
    this.#flushScheduled = false;
    const queued: Array<{ writer: RedisLocalWriter; lastId: number; call: AppendCall }> = [];
    for (const writer of this.#dirty) {
      const streamId = writer.streamId;
      const { events, trimTo, commit } = writer.takeQueued();
      const first = events[0];
      if (!first && !commit) continue;
      queued.push({
        writer,
        lastId: events.at(-1)?.[0] ?? writer.ackedId,
        call: {
          eventsKey: this.#keys.events(streamId),
          metaKey: this.#keys.meta(streamId),
          notifyChannel: this.#keys.notifyChannel(streamId),
          firstId: first?.[0] ?? writer.lastId + 1,
          commit,
          liveTtlMs: this.#liveTtlMs,
          trimTo,
          events: events.map(([, bytes]) => bytes),
        },
      });
    }
    this.#dirty.clear();
    if (queued.length === 0) return;
    // One Lua call per group of streams; `groups[i]` are the streams of call i, in its order.
    const pipeline = this.#redis.pipeline();
    const groups: Array<typeof queued> = [];
    for (let start = 0; start < queued.length; start += MAX_STREAMS_PER_CALL) {
      const group = queued.slice(start, start + MAX_STREAMS_PER_CALL);
      queueAppends(
        pipeline,
        group.map(({ call }) => call),
      );
      groups.push(group);
    }
    const failAll = (error: unknown) => {
      for (const { writer } of queued) writer.fail(unavailable(error));
    };
    pipeline.exec().then((results) => {
      if (!results) return failAll(new Error('the pipeline was discarded'));
      groups.forEach((group, call) => {
        const [callError, reply] = results[call] ?? [new Error('the pipeline answered no result')];
        group.forEach(({ writer, lastId }, index) => {
          const error = callError ?? appendFailure(reply, index);
          if (error) writer.fail(unavailable(error));
          else writer.acknowledge(lastId);
        });
      });
    }, failAll);
  }

  async finish(streamId: string, state: 'done' | 'error' | 'cancelled'): Promise<void> {
    const writer = this.#writers.get(streamId);
    // A commit still queued must reach Redis before the end, or it would set the state back.
    if (writer?.commitPending) this.#flush();
    try {
      if (writer) {
        await writer.acknowledged(writer.lastId);
        if (writer.failure) throw writer.failure;
      }
      await runRedis(async () => {
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
        const ended = await this.#lifecycle.finish({
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
      if (this.#writers.get(streamId) === writer) this.#writers.delete(streamId);
    }
  }

  async #lastEventId(streamId: string): Promise<number> {
    const last = await this.#redis.xrevrange(this.#keys.events(streamId), '+', '-', 'COUNT', 1);
    const entryId = last[0]?.[0];
    return entryId ? Number(entryId.split('-')[1]) : 0;
  }

  getMeta(streamId: string): Promise<StreamMeta | 'expired' | undefined> {
    return this.#getMeta(streamId, true);
  }

  /** The stream's meta; a live stream whose instance died is first ended as lost when `mayConclude`. */
  async #getMeta(streamId: string, mayConclude: boolean): Promise<StreamMeta | 'expired' | undefined> {
    return runRedis(async () => {
      const { fields, eventsExist, instanceAlive } = await this.#lifecycle.readMeta(
        this.#keys.meta(streamId),
        this.#keys.events(streamId),
        this.#keys.instancePrefix(),
      );
      if (Object.keys(fields).length === 0) return undefined;
      const meta = deserializeMeta(fields);
      const live = meta.state === 'pending' || meta.state === 'streaming';
      // A stream generated here is alive whatever Redis says of this instance's key.
      if (live && !instanceAlive && mayConclude && !this.#writers.has(streamId)) {
        await this.#concludeLost(meta);
        return this.#getMeta(streamId, false);
      }
      const ended =
        meta.state === 'done' || meta.state === 'cancelled' || (meta.state === 'error' && !meta.failure);
      if (ended && (!eventsExist || Date.now() - (meta.endedAt ?? 0) >= this.#options.retentionMs))
        return 'expired';
      return meta;
    });
  }

  /**
   * Ends a live stream whose instance's liveness key expired: one `generation_lost` event after its
   * last stored event, then the end (see `redis-lifecycle-scripts.ts`). Logged once, by the
   * instance whose call ended it.
   */
  async #concludeLost(meta: StreamMeta): Promise<void> {
    const streamId = meta.id;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const lastId = await this.#lastEventId(streamId);
      const lostId = lastId + 1 + LOCAL_READ_AHEAD_EVENTS;
      const body = errorBody(
        'generation_lost',
        'The gateway instance generating this stream stopped before it finished; send the request again to start a new generation.',
      );
      const ended = await this.#lifecycle.concludeLost({
        metaKey: this.#keys.meta(streamId),
        eventsKey: this.#keys.events(streamId),
        notifyChannel: this.#keys.notifyChannel(streamId),
        instanceKey: this.#keys.instance(meta.instanceId ?? ''),
        idempotencyKey:
          meta.idempotencyKey === undefined
            ? undefined
            : this.#keys.idempotency(meta.ownerId, meta.idempotencyKey),
        streamId,
        lastId,
        skip: LOCAL_READ_AHEAD_EVENTS,
        eventBytes: encodeEvent({ id: lostId, data: JSON.stringify(body) }),
        now: Date.now(),
        eventsRetentionMs: this.#options.retentionMs,
        metaRetentionMs: this.#options.retentionMs + this.#options.tombstoneMs,
      });
      if (ended === 1) {
        this.#options.log?.warn(
          {
            streamId,
            instanceId: meta.instanceId,
            lostEventId: lostId,
            lostAfterMs: this.#options.lostAfterMs,
          },
          'generation lost: the instance generating the stream stopped marking itself alive; ended it with generation_lost',
        );
      }
      if (ended !== -1) return;
    }
  }

  read(streamId: string, afterId: number): SpoolReader {
    // A stream generated here is known without asking Redis: no round trip before its first byte.
    const writer = this.#writers.get(streamId);
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

  /** Renews this instance's liveness key: one command per period, whatever the number of streams. */
  async #setAlive(): Promise<void> {
    await this.#redis.set(this.#keys.instance(this.#instanceId), '1', 'PX', this.#options.lostAfterMs);
  }

  async #markAlive(): Promise<void> {
    await this.#setAlive().catch((error) =>
      this.#options.log?.warn({ err: error }, 'could not mark this instance alive'),
    );
  }

  async forget(streamId: string): Promise<void> {
    if (this.#writers.has(streamId)) return;
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
    clearInterval(this.#liveness);
    // What is queued goes out ahead of the QUIT rather than after it.
    if (this.#dirty.size > 0) this.#flush();
    this.#waiters.wakeAll();
    for (const writer of this.#writers.values())
      writer.fail(new StoreUnavailableError('The spool was closed'));
    await Promise.allSettled([this.#redis.quit(), this.#subscriber.quit()]);
  }
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

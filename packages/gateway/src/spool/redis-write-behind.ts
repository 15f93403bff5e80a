import type { Redis } from 'ioredis';
import {
  type AppendCall,
  appendFailure,
  defineAppendScript,
  MAX_STREAMS_PER_CALL,
  queueAppends,
} from './redis-append-script.js';
import { runRedis, unavailable } from './redis-errors.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisLocalWriter } from './redis-local-writer.js';

/** What {@link RedisWriteBehind} needs besides its connection. */
export interface WriteBehindOptions {
  /** Appends of one stream that may await Redis's acknowledgement before the generation waits. */
  maxAppendsInFlight: number;
  /** Bytes of each stream Redis keeps (older events are trimmed). */
  maxStreamBytes: number;
  /** Bytes of each stream's most recent events kept in memory for local readers. */
  recentBytes: number;
  /** TTL of a live stream's keys (set with its first events). */
  liveTtlMs: number;
}

/**
 * The write path of the streams this instance generates: appends are recorded in memory (see
 * `RedisLocalWriter`), then written behind, every stream queued in one turn of the event loop in
 * one pipeline (one connection keeps their order), one Lua call per group of streams (see
 * `redis-append-script.ts`). The generation waits only when Redis falls `maxAppendsInFlight`
 * behind: a stream costs no MULTI and no round trip per event.
 */
export class RedisWriteBehind {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;
  readonly #options: WriteBehindOptions;
  readonly #writers = new Map<string, RedisLocalWriter>();
  readonly #dirty = new Set<RedisLocalWriter>();
  #flushScheduled = false;

  /** @param redis The command connection (taught the append script here). */
  constructor(redis: Redis, keys: RedisKeys, options: WriteBehindOptions) {
    defineAppendScript(redis);
    this.#redis = redis;
    this.#keys = keys;
    this.#options = options;
  }

  /** The writer of a stream this instance generates, while it does. */
  writer(streamId: string): RedisLocalWriter | undefined {
    return this.#writers.get(streamId);
  }

  /** Starts writing a stream this instance generates (its meta is stored). */
  start(streamId: string, ownerId: string, idempotencyKey: string | undefined): void {
    this.#writers.set(
      streamId,
      new RedisLocalWriter(
        streamId,
        ownerId,
        idempotencyKey,
        this.#options.maxStreamBytes,
        Math.min(this.#options.recentBytes, this.#options.maxStreamBytes),
      ),
    );
  }

  /** Stops tracking a stream (ended or failed) whose writer was `writer`, unless another took its id meanwhile. */
  stop(streamId: string, writer: RedisLocalWriter | undefined): void {
    if (this.#writers.get(streamId) === writer) this.#writers.delete(streamId);
  }

  /**
   * Queues the stream's state `streaming`, written ahead of its first events in the same pipeline:
   * nothing waits on it but a reader on another instance polling a pending stream, and one round
   * trip less stands between the upstream's first token and the client.
   */
  commit(writer: RedisLocalWriter): void {
    writer.commitPending = true;
    this.#markDirty(writer);
  }

  /**
   * Records events and queues their write; resolves at once (`undefined`) unless Redis is
   * `maxAppendsInFlight` behind. A stream not generated here (or already finished) is written
   * through, as nothing local tracks it.
   */
  append(streamId: string, firstId: number, events: readonly string[]): Promise<void> | undefined {
    if (events.length === 0) return undefined;
    const writer = this.#writers.get(streamId);
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

  /** Resolves once Redis stored everything recorded of `writer`; throws why a write failed. */
  async drained(writer: RedisLocalWriter): Promise<void> {
    // A commit still queued must reach Redis before the end, or it would set the state back.
    if (writer.commitPending) this.#flush();
    await this.#catchUp(writer, writer.lastId);
  }

  /** Writes what is queued now (ahead of a QUIT) and fails every stream still written with `error`. */
  close(error: Error): void {
    if (this.#dirty.size > 0) this.#flush();
    for (const writer of this.#writers.values()) writer.fail(error);
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

  /** Writes the queued appends of every stream in one pipeline, one Lua call per group of streams. */
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
          liveTtlMs: this.#options.liveTtlMs,
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
}

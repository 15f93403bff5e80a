import { randomBytes } from 'node:crypto';
import { encodeEvent, errorBody } from '@spool/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisKeys } from './redis-keys.js';
import { LOCAL_READ_AHEAD_EVENTS, lastStoredId } from './redis-readers.js';
import type { StreamMeta } from './store.js';

/**
 * Reads a stream's metadata, whether its events exist, and whether the instance generating it
 * still marks itself alive (1 when no instance is named), in one round trip.
 *
 * KEYS: the meta, the events. ARGV: the prefix of instance keys (`<prefix><instance id>`).
 * Returns `{fields (flat), events exist (0/1), instance alive (0/1)}`.
 */
const READ_META_SCRIPT = `
local fields = redis.call('HGETALL', KEYS[1])
local alive = 1
for index = 1, #fields, 2 do
  if fields[index] == 'instanceId' then alive = redis.call('EXISTS', ARGV[1] .. fields[index + 1]) end
end
return {fields, redis.call('EXISTS', KEYS[2]), alive}
`;

/**
 * Ends a stream whose generating instance died: appends one numbered error event (an entry named
 * `lost`, numbered `skip` past its last stored event: ids its instance may have served unstored)
 * and the end marker, marks it ended (`error`, `lost`), starts its retention, frees
 * its idempotency key (a retry starts a fresh generation) and wakes its readers. Compare-and-set:
 * nothing is written unless the stream is still live, its instance's liveness key is gone, and its
 * last stored event is the one the caller encoded after.
 *
 * KEYS: meta, events, notify channel, the instance's liveness key, the idempotency index (or the
 * meta again when none). ARGV: the last event id the caller saw, the error event's bytes (id last
 * + 1 + skip), now (ms), the events' retention (ms), the meta's retention (ms), the stream id, '1'
 * when KEYS[5] is an idempotency index, and skip. Returns 1 when it ended the stream, 0 when the stream had
 * ended or its instance is alive, -1 when the last event id was not the caller's (encode again).
 */
const CONCLUDE_LOST_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'streaming' and state ~= 'pending' then return 0 end
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local lastId = 0
if last[1] then lastId = tonumber(string.match(last[1][1], '%-(%d+)$')) end
if lastId ~= tonumber(ARGV[1]) then return -1 end
local id = lastId + 1 + tonumber(ARGV[8])
redis.call('XADD', KEYS[2], '0-' .. id, 'lost', ARGV[2])
redis.call('XADD', KEYS[2], '0-' .. (id + 1), 'end', 'error')
redis.call('HSET', KEYS[1], 'state', 'error', 'endedAt', ARGV[3], 'lastId', id, 'lost', '1')
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if ARGV[7] == '1' and redis.call('GET', KEYS[5]) == ARGV[6] then redis.call('DEL', KEYS[5]) end
redis.call('PUBLISH', KEYS[3], 'end')
return 1
`;

/** Liveness marks per `lostAfterMs`: a mark or two may be late without the instance taken for dead. */
const LIVENESS_MARKS_PER_PERIOD = 5;
/** Attempts to end a lost stream while its last event keeps changing under the caller. */
const CONCLUDE_ATTEMPTS = 3;

type WithLiveness = Redis & {
  spoolReadMeta(...args: Array<string | number>): Promise<[string[], number, number]>;
  spoolConcludeLost(...args: Array<string | number>): Promise<number>;
};

/** What {@link RedisInstanceLiveness} needs besides its connection. */
export interface LivenessOptions {
  /** How long an instance may go without marking itself alive before its streams are lost. */
  lostAfterMs: number;
  /** How long a lost stream's events stay readable. */
  eventsRetentionMs: number;
  /** How long a lost stream's meta stays (its events' retention and the tombstone). */
  metaRetentionMs: number;
  log?: Logger | undefined;
}

/** A stream's metadata as Redis holds it, with what decides whether it was lost. */
export interface StoredMeta {
  /** The meta's fields; empty when Redis has no such stream. */
  fields: Record<string, string>;
  eventsExist: boolean;
  /** The instance named in the meta still marks itself alive (true when none is named). */
  instanceAlive: boolean;
}

/**
 * Instance liveness and lost generations: each instance keeps a key (with a TTL) alive while it
 * runs, one command per period whatever the number of streams. A stream whose instance's key
 * expired before the stream ended is ended by whichever instance notices first (a reader's wait,
 * a resume, a retry of its idempotency key): one numbered `generation_lost` error event, the end,
 * and its idempotency key freed, so a retry starts a fresh generation under a new stream id.
 */
export class RedisInstanceLiveness {
  /** This process's id among the instances sharing the Redis (named in the meta of its streams). */
  readonly instanceId = randomBytes(12).toString('base64url');
  readonly #redis: WithLiveness;
  readonly #keys: RedisKeys;
  readonly #options: LivenessOptions;
  #timer: NodeJS.Timeout | undefined;

  /** @param redis The command connection (taught the scripts here). */
  constructor(redis: Redis, keys: RedisKeys, options: LivenessOptions) {
    redis.defineCommand('spoolReadMeta', { numberOfKeys: 2, lua: READ_META_SCRIPT });
    redis.defineCommand('spoolConcludeLost', { numberOfKeys: 5, lua: CONCLUDE_LOST_SCRIPT });
    this.#redis = redis as WithLiveness;
    this.#keys = keys;
    this.#options = options;
  }

  /** How often this instance marks itself alive. */
  get intervalMs(): number {
    return this.#options.lostAfterMs / LIVENESS_MARKS_PER_PERIOD;
  }

  /** Marks this instance alive now (rejects when Redis refuses) and from now on every period. */
  async start(): Promise<void> {
    this.#timer = setInterval(() => void this.#markAlive(), this.intervalMs);
    this.#timer.unref();
    await this.#setAlive();
  }

  /** Stops marking: once the key expires, other instances take this one's live streams for lost. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** A stream's meta, whether its events exist and whether its instance lives, in one round trip. */
  async readMeta(streamId: string): Promise<StoredMeta> {
    const [flat, eventsExist, alive] = await this.#redis.spoolReadMeta(
      this.#keys.meta(streamId),
      this.#keys.events(streamId),
      this.#keys.instancePrefix(),
    );
    const fields: Record<string, string> = {};
    for (let index = 0; index + 1 < flat.length; index += 2) {
      fields[flat[index] as string] = flat[index + 1] as string;
    }
    return { fields, eventsExist: eventsExist === 1, instanceAlive: alive === 1 };
  }

  /**
   * Ends a live stream whose instance's liveness key expired: one `generation_lost` event after its
   * last stored event, then the end (see {@link CONCLUDE_LOST_SCRIPT}). Logged once, by the
   * instance whose call ended it.
   */
  async concludeLost(meta: StreamMeta): Promise<void> {
    const streamId = meta.id;
    const eventsKey = this.#keys.events(streamId);
    for (let attempt = 0; attempt < CONCLUDE_ATTEMPTS; attempt++) {
      const lastId = await lastStoredId(this.#redis, eventsKey);
      const lostId = lastId + 1 + LOCAL_READ_AHEAD_EVENTS;
      const body = errorBody(
        'generation_lost',
        'The gateway instance generating this stream stopped before it finished; send the request again to start a new generation.',
      );
      const idempotencyKey =
        meta.idempotencyKey === undefined
          ? undefined
          : this.#keys.idempotency(meta.ownerId, meta.idempotencyKey);
      const ended = await this.#redis.spoolConcludeLost(
        this.#keys.meta(streamId),
        eventsKey,
        this.#keys.notifyChannel(streamId),
        this.#keys.instance(meta.instanceId ?? ''),
        idempotencyKey ?? this.#keys.meta(streamId),
        lastId,
        encodeEvent({ id: lostId, data: JSON.stringify(body) }),
        Date.now(),
        this.#options.eventsRetentionMs,
        this.#options.metaRetentionMs,
        streamId,
        idempotencyKey === undefined ? '0' : '1',
        LOCAL_READ_AHEAD_EVENTS,
      );
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

  /** Renews this instance's liveness key: one command per period, whatever the number of streams. */
  async #setAlive(): Promise<void> {
    await this.#redis.set(this.#keys.instance(this.instanceId), '1', 'PX', this.#options.lostAfterMs);
  }

  async #markAlive(): Promise<void> {
    await this.#setAlive().catch((error) =>
      this.#options.log?.warn({ err: error }, 'could not mark this instance alive'),
    );
  }
}

import type { Redis } from 'ioredis';

/**
 * Claims an idempotency key and records the new stream in one step, so that no retry can find the
 * key claimed and its stream not yet written (and start a second generation). Returns the id of
 * the stream already under the key (its metadata exists), or nil when the key was claimed.
 *
 * KEYS: the key's index, the new stream's meta. ARGV: the new stream's id, its live TTL (ms), the
 * prefix of stream keys (a meta key is `<prefix><id>:meta`), an id to replace even if its meta
 * exists ('' for none: the caller found it expired or lost), then the meta's field/value pairs.
 * (The existing stream's meta key is built here, so this script is not Redis Cluster safe; the
 * store's keys all share one prefix on one server.)
 */
const CLAIM_SCRIPT = `
local existing = redis.call('GET', KEYS[1])
if existing and existing ~= ARGV[4] and redis.call('EXISTS', ARGV[3] .. existing .. ':meta') == 1 then
  return existing
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return false
`;

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

/**
 * Ends a stream its instance generated: the end marker after its last event, the state and last
 * id, the retention TTLs (its idempotency key's too) and a wake of its readers; nothing when the
 * stream has already ended (another instance took this one for dead and ended it as lost).
 *
 * KEYS: events, meta, notify channel, the idempotency index (or the meta again when none). ARGV:
 * the last event id, the final state, now (ms), the events' retention (ms), the meta's retention
 * (ms), and '1' when KEYS[4] is an idempotency index. Returns 1 when it ended the stream, else 0.
 */
const FINISH_SCRIPT = `
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'streaming' and state ~= 'pending' then return 0 end
redis.call('XADD', KEYS[1], '0-' .. (tonumber(ARGV[1]) + 1), 'end', ARGV[2])
redis.call('HSET', KEYS[2], 'state', ARGV[2], 'endedAt', ARGV[3], 'lastId', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if ARGV[6] == '1' then redis.call('PEXPIRE', KEYS[4], ARGV[4]) end
redis.call('PUBLISH', KEYS[3], 'end')
return 1
`;

type WithLifecycle = Redis & {
  spoolFinish(...args: Array<string | number>): Promise<number>;
  spoolClaim(...args: Array<string | number>): Promise<string | null>;
  spoolReadMeta(...args: Array<string | number>): Promise<[string[], number, number]>;
  spoolConcludeLost(...args: Array<string | number>): Promise<number>;
};

/** What `concludeLost` needs to end a stream whose instance died. */
export interface ConcludeLostCall {
  metaKey: string;
  eventsKey: string;
  notifyChannel: string;
  instanceKey: string;
  /** The stream's idempotency index, when it has a key. */
  idempotencyKey: string | undefined;
  streamId: string;
  /** The last stored event id the error event follows. */
  lastId: number;
  /** Ids left out after `lastId` (events the dead instance may have served unstored). */
  skip: number;
  /** The error event, encoded with id `lastId + 1 + skip`. */
  eventBytes: string;
  now: number;
  eventsRetentionMs: number;
  metaRetentionMs: number;
}

/**
 * The Lua steps of a stream's life that must each be atomic across instances: claiming an
 * idempotency key with its stream, reading metadata with its instance's liveness, ending a stream
 * whose instance died, and ending one that finished (unless it was ended as lost meanwhile).
 */
export class RedisLifecycleScripts {
  readonly #redis: WithLifecycle;

  /** Teaches `redis` (the command connection) the scripts. */
  constructor(redis: Redis) {
    redis.defineCommand('spoolClaim', { numberOfKeys: 2, lua: CLAIM_SCRIPT });
    redis.defineCommand('spoolReadMeta', { numberOfKeys: 2, lua: READ_META_SCRIPT });
    redis.defineCommand('spoolConcludeLost', { numberOfKeys: 5, lua: CONCLUDE_LOST_SCRIPT });
    redis.defineCommand('spoolFinish', { numberOfKeys: 4, lua: FINISH_SCRIPT });
    this.#redis = redis as WithLifecycle;
  }

  /**
   * Claims `indexKey` for a new stream and writes its meta; resolves the id of the stream already
   * under the key instead (nothing written), unless that id is `replaceId`.
   */
  async claim(call: {
    indexKey: string;
    metaKey: string;
    streamId: string;
    liveTtlMs: number;
    streamKeyPrefix: string;
    replaceId: string | undefined;
    fields: Record<string, string>;
  }): Promise<string | null> {
    const pairs = Object.entries(call.fields).flat();
    return this.#redis.spoolClaim(
      call.indexKey,
      call.metaKey,
      call.streamId,
      call.liveTtlMs,
      call.streamKeyPrefix,
      call.replaceId ?? '',
      ...pairs,
    );
  }

  /** The meta's fields (empty when unknown), whether its events exist, and whether its instance lives. */
  async readMeta(
    metaKey: string,
    eventsKey: string,
    instanceKeyPrefix: string,
  ): Promise<{ fields: Record<string, string>; eventsExist: boolean; instanceAlive: boolean }> {
    const [flat, eventsExist, alive] = await this.#redis.spoolReadMeta(metaKey, eventsKey, instanceKeyPrefix);
    const fields: Record<string, string> = {};
    for (let index = 0; index + 1 < flat.length; index += 2) {
      fields[flat[index] as string] = flat[index + 1] as string;
    }
    return { fields, eventsExist: eventsExist === 1, instanceAlive: alive === 1 };
  }

  /** Ends a stream whose instance died (see {@link CONCLUDE_LOST_SCRIPT}): 1 ended, 0 not live or alive, -1 retry. */
  async concludeLost(call: ConcludeLostCall): Promise<number> {
    return this.#redis.spoolConcludeLost(
      call.metaKey,
      call.eventsKey,
      call.notifyChannel,
      call.instanceKey,
      call.idempotencyKey ?? call.metaKey,
      call.lastId,
      call.eventBytes,
      call.now,
      call.eventsRetentionMs,
      call.metaRetentionMs,
      call.streamId,
      call.idempotencyKey === undefined ? '0' : '1',
      call.skip,
    );
  }

  /** Ends a stream that finished (see {@link FINISH_SCRIPT}): 1 ended, 0 it had already ended. */
  async finish(call: {
    eventsKey: string;
    metaKey: string;
    notifyChannel: string;
    idempotencyKey: string | undefined;
    lastId: number;
    state: 'done' | 'error' | 'cancelled';
    now: number;
    eventsRetentionMs: number;
    metaRetentionMs: number;
  }): Promise<number> {
    return this.#redis.spoolFinish(
      call.eventsKey,
      call.metaKey,
      call.notifyChannel,
      call.idempotencyKey ?? call.metaKey,
      call.lastId,
      call.state,
      call.now,
      call.eventsRetentionMs,
      call.metaRetentionMs,
      call.idempotencyKey === undefined ? '0' : '1',
    );
  }
}

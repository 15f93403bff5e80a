import type { Redis } from 'ioredis';
import type { RedisKeys } from './redis-keys.js';
import { StoreUnavailableError, type StreamMeta } from './store.js';

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

const COMMAND = 'spoolClaim';

/** Claims of an idempotency key tried before giving up (each lost one is replaced by the next). */
const CLAIM_ATTEMPTS = 3;

type WithClaim = Redis & { [COMMAND](...args: Array<string | number>): Promise<string | null> };

/** A claim of an idempotency key for a new stream. */
export interface ClaimCall {
  streamId: string;
  ownerId: string;
  idempotencyKey: string;
  /** The new stream's meta, as the fields of its hash. */
  fields: Record<string, string>;
  /** How long the claim and the meta live unless the stream ends first. */
  liveTtlMs: number;
}

/**
 * The idempotency keys of the spool: one key, one generation, across every instance. A retry
 * finds the stream its key already names and attaches to it, unless that stream expired or its
 * instance died (it was lost): then the retry's claim replaces it.
 */
export class RedisIdempotencyClaims {
  readonly #redis: WithClaim;
  readonly #keys: RedisKeys;
  readonly #getMeta: (streamId: string) => Promise<StreamMeta | 'expired' | undefined>;

  /**
   * @param redis The command connection (taught the claim script here).
   * @param getMeta The store's metadata lookup, which ends a lost stream as it reads it.
   */
  constructor(
    redis: Redis,
    keys: RedisKeys,
    getMeta: (streamId: string) => Promise<StreamMeta | 'expired' | undefined>,
  ) {
    redis.defineCommand(COMMAND, { numberOfKeys: 2, lua: CLAIM_SCRIPT });
    this.#redis = redis as WithClaim;
    this.#keys = keys;
    this.#getMeta = getMeta;
  }

  /**
   * Claims an idempotency key for a new stream, writing its meta in the same step; returns the
   * stream already under the key instead, unless that one expired or was lost (then it is replaced).
   */
  async claim(call: ClaimCall): Promise<StreamMeta | undefined> {
    let replaceId: string | undefined;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const existingId = await this.#redis[COMMAND](
        this.#keys.idempotency(call.ownerId, call.idempotencyKey),
        this.#keys.meta(call.streamId),
        call.streamId,
        call.liveTtlMs,
        this.#keys.streamPrefix(),
        replaceId ?? '',
        ...Object.entries(call.fields).flat(),
      );
      if (existingId === null) return undefined;
      const existing = await this.#getMeta(existingId);
      if (existing !== undefined && existing !== 'expired' && !existing.lost) return existing;
      replaceId = existingId;
    }
    throw new StoreUnavailableError(
      `The Idempotency-Key's stream changed hands ${CLAIM_ATTEMPTS} times while it was claimed; retry the request`,
    );
  }
}

import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * The Lua side of `RedisRateLimiter`: the sliding-window log of `rate-window.ts` over Redis data,
 * run atomically so every gateway instance sees one state. Per key:
 * - `…:req`  sorted set, lease id → admission time (requests window);
 * - `…:tok`  sorted set, lease id → admission time, with `…:tokc`, a hash of lease id → tokens
 *   and the field `=` holding their running sum (so admission is O(1) plus what expired);
 * - `…:conc` sorted set, lease id → lease expiry (crash-safe concurrency slots).
 *
 * Clock: scripts take `now` from the caller when given, else Redis `TIME` (allowed in scripts since
 * Redis 5, which replicates effects, not scripts). Production leaves it out, so every instance uses
 * the one Redis clock and instance clock skew cannot widen a window; tests pass their injected clock
 * so windows and lease expiry are checked without waiting.
 */

const CLOCK = `
local function clock(arg)
  local now = tonumber(arg)
  if now then return now end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local CHUNK = 500
`;

/**
 * KEYS: req, tok, tokc, conc. ARGV: now|'', windowMs, requestLimit, tokenLimit, cost,
 * concurrencyLimit (0 = not enforced), leaseId, leaseTtlMs, commit ('1' acquire | '0' peek).
 * Returns { allowed, now, reqUsed, reqNewest, reqRetryMs, tokUsed, tokNewest, tokRetryMs, concAllowed }.
 */
export const ACQUIRE_SCRIPT = `${CLOCK}
local now = clock(ARGV[1])
local window = tonumber(ARGV[2])
local reqLimit = tonumber(ARGV[3])
local tokLimit = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])
local concLimit = tonumber(ARGV[6])
local id = ARGV[7]
local ttl = tonumber(ARGV[8])
local commit = ARGV[9] == '1'
local need = commit and 1 or 0
local cutoff = now - window

local function newest(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then return tonumber(last[2]) end
  return -1
end

local reqUsed, reqOk, reqRetry = 0, true, 0
if reqLimit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
  reqUsed = redis.call('ZCARD', KEYS[1])
  if reqUsed + need > reqLimit then
    reqOk = false
    local index = reqUsed + need - reqLimit - 1
    local entry = redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')
    reqRetry = tonumber(entry[2]) + window - now
  end
end

local tokUsed, tokOk, tokRetry = 0, true, 0
if tokLimit > 0 then
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff)
  if #expired > 0 then
    local freed = 0
    for i = 1, #expired, CHUNK do
      local part = {unpack(expired, i, math.min(i + CHUNK - 1, #expired))}
      local costs = redis.call('HMGET', KEYS[3], unpack(part))
      for k = 1, #part do freed = freed + (tonumber(costs[k]) or 0) end
      redis.call('HDEL', KEYS[3], unpack(part))
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)
    redis.call('HINCRBY', KEYS[3], '=', -freed)
  end
  tokUsed = tonumber(redis.call('HGET', KEYS[3], '=') or 0)
  local fits = math.min(cost, tokLimit) * need
  if tokUsed + fits > tokLimit then
    tokOk = false
    tokRetry = window
    local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    local freed, found = 0, false
    for i = 1, #entries, 2 * CHUNK do
      local ids, scores = {}, {}
      for j = i, math.min(i + 2 * CHUNK - 1, #entries), 2 do
        ids[#ids + 1] = entries[j]
        scores[#scores + 1] = tonumber(entries[j + 1])
      end
      local costs = redis.call('HMGET', KEYS[3], unpack(ids))
      for k = 1, #ids do
        freed = freed + (tonumber(costs[k]) or 0)
        if tokUsed - freed + fits <= tokLimit then
          tokRetry = scores[k] + window - now
          found = true
          break
        end
      end
      if found then break end
    end
  end
end

local concOk = true
if concLimit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  if redis.call('ZCARD', KEYS[4]) + need > concLimit then concOk = false end
end

local allowed = reqOk and tokOk and concOk
if commit and allowed then
  if reqLimit > 0 then
    redis.call('ZADD', KEYS[1], now, id)
    redis.call('PEXPIRE', KEYS[1], window)
    reqUsed = reqUsed + 1
  end
  if tokLimit > 0 then
    redis.call('ZADD', KEYS[2], now, id)
    redis.call('HSET', KEYS[3], id, cost)
    tokUsed = redis.call('HINCRBY', KEYS[3], '=', cost)
    redis.call('PEXPIRE', KEYS[2], window)
    redis.call('PEXPIRE', KEYS[3], window)
  end
  if concLimit > 0 then
    redis.call('ZADD', KEYS[4], now + ttl, id)
    redis.call('PEXPIRE', KEYS[4], ttl)
  end
end

return {
  allowed and 1 or 0, now,
  reqUsed, reqLimit > 0 and newest(KEYS[1]) or -1, reqRetry,
  tokUsed, tokLimit > 0 and newest(KEYS[2]) or -1, tokRetry,
  concOk and 1 or 0,
}
`;

/**
 * KEYS: tok, tokc. ARGV: leaseId, actualTokens, estimatedTokens, now|'', windowMs.
 * Sets the lease's entry to the actual tokens while it is in the window; once it has left, charges
 * an overrun as a new entry at `now`. Returns 1 (adjusted), 2 (overrun charged) or 0.
 */
export const RECONCILE_SCRIPT = `${CLOCK}
local now = clock(ARGV[4])
local window = tonumber(ARGV[5])
local actual = tonumber(ARGV[2])
local old = redis.call('HGET', KEYS[2], ARGV[1])
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if old and at and tonumber(at) > now - window then
  redis.call('HSET', KEYS[2], ARGV[1], actual)
  redis.call('HINCRBY', KEYS[2], '=', actual - tonumber(old))
  return 1
end
local extra = actual - tonumber(ARGV[3])
if extra > 0 then
  local extraId = ARGV[1] .. '+'
  redis.call('ZADD', KEYS[1], now, extraId)
  redis.call('HSET', KEYS[2], extraId, extra)
  redis.call('HINCRBY', KEYS[2], '=', extra)
  redis.call('PEXPIRE', KEYS[1], window)
  redis.call('PEXPIRE', KEYS[2], window)
  return 2
end
return 0
`;

/** KEYS: conc. ARGV: now|'', leaseTtlMs, leaseId. Extends a lease still held; 1 if it was. */
export const REFRESH_SCRIPT = `${CLOCK}
local now = clock(ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
return 0
`;

/** A Lua script with its SHA1, run by {@link runScript}. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

/** Wraps Lua source for {@link runScript}. */
export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * EVALSHA, falling back to EVAL when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH);
 * EVAL also loads the script, so the next call takes the short path again.
 */
export async function runScript(
  redis: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return await redis.eval(script.source, keys.length, ...keys, ...args);
  }
}

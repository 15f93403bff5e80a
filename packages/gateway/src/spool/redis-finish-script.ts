import type { Redis } from 'ioredis';

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

const COMMAND = 'spoolFinish';

type WithFinish = Redis & { [COMMAND](...args: Array<string | number>): Promise<number> };

/** What ending a stream writes. */
export interface FinishCall {
  eventsKey: string;
  metaKey: string;
  notifyChannel: string;
  /** The stream's idempotency index, when it has a key. */
  idempotencyKey: string | undefined;
  lastId: number;
  state: 'done' | 'error' | 'cancelled';
  now: number;
  eventsRetentionMs: number;
  metaRetentionMs: number;
}

/** Teaches a connection the finish script. */
export function defineFinishScript(redis: Redis): void {
  redis.defineCommand(COMMAND, { numberOfKeys: 4, lua: FINISH_SCRIPT });
}

/**
 * Ends a stream (see {@link FINISH_SCRIPT}) on a connection {@link defineFinishScript} taught:
 * 1 ended, 0 it had already ended.
 */
export function runFinishScript(redis: Redis, call: FinishCall): Promise<number> {
  return (redis as WithFinish)[COMMAND](
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

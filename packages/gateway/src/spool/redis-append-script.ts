import type { ChainableCommander, Redis } from 'ioredis';

/**
 * One stream's share of a write-behind flush, as one Lua call instead of a command per event: the
 * commit (state `streaming`), the XADD of each event under `0-<id>`, the live TTL on the first
 * batch, the trim when the byte cap moved, and one PUBLISH of the last id. A stream read at its
 * pace sends one event per flush, a fast one dozens; each command cost ioredis an object, an
 * encoding and a reply to parse, and Redis a dispatch.
 *
 * KEYS: events, meta, notify channel. ARGV: first id, commit (1/0), live TTL ms, trim-to id ('' =
 * none), now (ms), then the events' bytes in id order. Returns the number of events added.
 */
export const APPEND_SCRIPT = `
local firstId = tonumber(ARGV[1])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[2], 'state', 'streaming', 'aliveAt', ARGV[5])
end
local count = #ARGV - 5
for index = 1, count do
  redis.call('XADD', KEYS[1], '0-' .. (firstId + index - 1), 'd', ARGV[5 + index])
end
if count > 0 and firstId == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if ARGV[4] ~= '' then
  redis.call('XTRIM', KEYS[1], 'MINID', '0-' .. ARGV[4])
  redis.call('HSET', KEYS[2], 'firstId', ARGV[4])
end
if count > 0 then
  redis.call('PUBLISH', KEYS[3], tostring(firstId + count - 1))
end
return count
`;

const COMMAND = 'spoolAppend';

/** What one stream's flush writes. */
export interface AppendCall {
  eventsKey: string;
  metaKey: string;
  notifyChannel: string;
  firstId: number;
  commit: boolean;
  liveTtlMs: number;
  trimTo: number | undefined;
  events: readonly string[];
}

type WithAppend = ChainableCommander & {
  [COMMAND](...args: Array<string | number>): ChainableCommander;
};

/** Teaches a connection the script (ioredis loads it before a pipeline that uses it). */
export function defineAppendScript(redis: Redis): void {
  redis.defineCommand(COMMAND, { numberOfKeys: 3, lua: APPEND_SCRIPT });
}

/** Queues one stream's append on a pipeline of a connection that {@link defineAppendScript} taught. */
export function queueAppend(pipeline: ChainableCommander, call: AppendCall): void {
  (pipeline as WithAppend)[COMMAND](
    call.eventsKey,
    call.metaKey,
    call.notifyChannel,
    call.firstId,
    call.commit ? '1' : '0',
    call.liveTtlMs,
    call.trimTo ?? '',
    Date.now(),
    ...call.events,
  );
}

import type { ChainableCommander, Redis } from 'ioredis';

/**
 * A write-behind flush as Lua calls that each carry up to `MAX_STREAMS_PER_CALL` streams, instead
 * of a call per stream (or a command per event). For each stream: the commit (state `streaming`),
 * the XADD of each event under `0-<id>`, the live TTL on the first batch, the trim when the byte
 * cap moved, and one PUBLISH of the last id. A stream read at its pace sends one event per flush;
 * with a thousand of them, a call per stream cost ioredis a command object, its promise, an
 * encoding and a reply to parse, and Redis a dispatch, thirty thousand times a second.
 *
 * Each stream's commands run under `pcall`: one that fails (its own key, its own ids) stops that
 * stream only, and the others in the same call are stored and reported as they are.
 *
 * KEYS: per stream, its events, meta and notify channel. ARGV: per stream its first
 * id, commit (1/0), live TTL ms, trim-to id ('' = none), event count and the events' bytes in id
 * order. Returns per stream the number of events added, or the error that stopped it (a string).
 */
const APPEND_SCRIPT = `
local results = {}
local at = 1
for stream = 0, #KEYS / 3 - 1 do
  local events, meta, channel = KEYS[stream * 3 + 1], KEYS[stream * 3 + 2], KEYS[stream * 3 + 3]
  local firstId = tonumber(ARGV[at])
  local commit, ttl, trimTo = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local count = tonumber(ARGV[at + 4])
  local first = at + 5
  at = first + count
  local failure = nil
  local function call(...)
    if failure then return end
    local reply = redis.pcall(...)
    if type(reply) == 'table' and reply.err then failure = reply.err end
  end
  -- Only a pending stream becomes streaming: one whose instance was taken for dead stays ended.
  if commit == '1' and redis.call('HGET', meta, 'state') == 'pending' then call('HSET', meta, 'state', 'streaming') end
  for index = 0, count - 1 do
    call('XADD', events, '0-' .. (firstId + index), 'd', ARGV[first + index])
  end
  if count > 0 and firstId == 1 then call('PEXPIRE', events, ttl) end
  if trimTo ~= '' then
    call('XTRIM', events, 'MINID', '0-' .. trimTo)
    call('HSET', meta, 'firstId', trimTo)
  end
  if count > 0 then call('PUBLISH', channel, tostring(firstId + count - 1)) end
  results[stream + 1] = failure or count
end
return results
`;

const COMMAND = 'spoolAppend';

/**
 * Streams one Lua call carries at most: Redis runs a script to its end before any other command,
 * so a flush of thousands of streams goes as several calls, each short.
 */
export const MAX_STREAMS_PER_CALL = 64;

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

/**
 * Teaches a connection the script (ioredis loads it before a pipeline that uses it). Its number of
 * keys varies: each call passes it first.
 */
export function defineAppendScript(redis: Redis): void {
  redis.defineCommand(COMMAND, { lua: APPEND_SCRIPT });
}

/**
 * Queues one Lua call with the appends of up to {@link MAX_STREAMS_PER_CALL} streams on a pipeline
 * of a connection that {@link defineAppendScript} taught. Its reply, per stream in order, is the
 * number of events added or the error that stopped that stream (see {@link appendFailure}).
 */
export function queueAppends(pipeline: ChainableCommander, calls: readonly AppendCall[]): void {
  const keys: string[] = [];
  const args: Array<string | number> = [];
  for (const call of calls) {
    keys.push(call.eventsKey, call.metaKey, call.notifyChannel);
    args.push(
      call.firstId,
      call.commit ? '1' : '0',
      call.liveTtlMs,
      call.trimTo ?? '',
      call.events.length,
      ...call.events,
    );
  }
  (pipeline as WithAppend)[COMMAND](keys.length, ...keys, ...args);
}

/** The error of one stream in a call's reply, or undefined when its appends were stored. */
export function appendFailure(reply: unknown, index: number): Error | undefined {
  const result = Array.isArray(reply) ? reply[index] : undefined;
  if (typeof result === 'number') return undefined;
  return new Error(
    typeof result === 'string' ? result : 'the append script answered no result for the stream',
  );
}

import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Usage } from '@spool/protocol';
import { DONE_DATA } from '@spool/protocol';
import type { FaultSpec } from './fault-spec.js';
import { estimatePromptTokens, simTokens } from './sim-text.js';

/** How fast the sim answers. */
export interface SimPace {
  /** Delay before the first event. @default 0 */
  ttftMs: number;
  /** Content tokens per second after the first; 0 = as fast as possible. @default 0 */
  tokensPerSecond: number;
}

/** The events of one sim answer, in order, as OpenAI sends them (data strings, `[DONE]` last). */
export function simChunks(
  request: ChatCompletionRequest,
  createdSeconds = Math.floor(Date.now() / 1000),
): string[] {
  const { tokens, finishReason } = simTokens(request);
  const id = `chatcmpl-sim${randomBytes(9).toString('hex')}`;
  const base = {
    id,
    object: 'chat.completion.chunk' as const,
    created: createdSeconds,
    model: request.model,
  };
  const chunk = (
    delta: ChatCompletionChunk['choices'][number]['delta'],
    finish: ChatCompletionChunk['choices'][number]['finish_reason'] = null,
  ): string => JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] });
  const events = [chunk({ role: 'assistant', content: '' })];
  for (const token of tokens) events.push(chunk({ content: token }));
  events.push(chunk({}, finishReason));
  if (request.stream_options?.include_usage) {
    events.push(JSON.stringify({ ...base, choices: [], usage: simUsage(request, tokens.length) }));
  }
  events.push(DONE_DATA);
  return events;
}

/** The usage the sim reports for a request that produced `completionTokens` tokens. */
export function simUsage(request: ChatCompletionRequest, completionTokens: number): Usage {
  const promptTokens = estimatePromptTokens(request.messages);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** The non-streamed sim answer. */
export function simCompletion(request: ChatCompletionRequest): ChatCompletion {
  const { tokens, finishReason } = simTokens(request);
  return {
    id: `chatcmpl-sim${randomBytes(9).toString('hex')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: [
      { index: 0, message: { role: 'assistant', content: tokens.join('') }, finish_reason: finishReason },
    ],
    usage: simUsage(request, tokens.length),
  };
}

const FINISH_CHUNK = /"finish_reason":"/;

/** The time source of the sim's pacing, injectable so tests need no real waiting. */
export interface SimClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const REAL_CLOCK: SimClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }),
};

/** Raised by `emitSimEvents` where a `drop-after` fault says the connection should drop. */
export class SimDropSignal extends Error {
  constructor(readonly afterEvents: number) {
    super(`sim fault: connection dropped after ${afterEvents} events`);
    this.name = 'SimDropSignal';
  }
}

/** The error event the sim sends for an `error-after` fault. */
export const SIM_ERROR_EVENT = JSON.stringify({
  error: {
    message: 'Simulated upstream failure (X-Spool-Fault error-after)',
    type: 'server_error',
    code: 'sim_fault',
    param: null,
  },
});

/**
 * Yields a sim answer's events at the requested pace, applying the mid-stream faults of `faults`
 * (pass `{}` for none). A drop throws `SimDropSignal`; a stall waits for `stallMs` or the abort.
 */
export async function* emitSimEvents(
  events: readonly string[],
  pace: SimPace,
  faults: FaultSpec,
  signal: AbortSignal,
  clock: SimClock = REAL_CLOCK,
): AsyncGenerator<string> {
  const { now, sleep } = clock;
  const tokenGapMs = pace.tokensPerSecond > 0 ? 1000 / pace.tokensPerSecond : 0;
  // Like OpenAI, the finish chunk, the usage chunk and [DONE] follow the last token at once;
  // pacing them as tokens would put two extra token gaps at the end of every stream.
  const finishIndex = events.findIndex((event) => FINISH_CHUNK.test(event));
  const pacedCount = finishIndex < 0 ? events.length : finishIndex;
  let next = now() + pace.ttftMs;
  for (let index = 0; index < events.length; index++) {
    if (index === faults.dropAfter) throw new SimDropSignal(index);
    if (index === faults.errorAfter) {
      yield SIM_ERROR_EVENT;
      return;
    }
    if (index === faults.stallAfter) {
      await sleep(faults.stallMs ?? 2 ** 31 - 1, signal);
      next = now();
    }
    const wait = index < pacedCount ? next - now() : 0;
    // Scheduling against an absolute clock keeps the average pace exact despite timer lateness.
    if (wait >= 1) await sleep(wait, signal);
    else if (signal.aborted) throw signal.reason;
    if (index > 0) next += tokenGapMs;
    else next = now() + tokenGapMs;
    yield events[index] as string;
  }
}

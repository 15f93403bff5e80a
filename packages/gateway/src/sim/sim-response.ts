import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Usage } from '@spool/protocol';
import { DONE_DATA } from '@spool/protocol';
import type { FaultSpec } from '../faults/fault-spec.js';
import { estimatePromptTokens } from '../limits/estimate-tokens.js';
import { type SimChoice, simAnswer } from './sim-answer.js';

/** How fast the sim answers. */
export interface SimPace {
  /** Delay before the first event. @default 0 */
  ttftMs: number;
  /** Content tokens per second after the first; 0 = as fast as possible. @default 0 */
  tokensPerSecond: number;
}

type ChunkChoice = ChatCompletionChunk['choices'][number];

/**
 * The events of one sim answer, in order, as OpenAI sends them (data strings, `[DONE]` last): each
 * choice's role chunk, then its content tokens or tool-call deltas (id and name first, arguments in
 * pieces), the choices of an `n > 1` answer interleaved one chunk each in turn, each choice's finish
 * chunk as it ends, usage when asked (counting every choice).
 */
export function simChunks(
  request: ChatCompletionRequest,
  createdSeconds = Math.floor(Date.now() / 1000),
): string[] {
  const answer = simAnswer(request);
  const id = `chatcmpl-sim${randomBytes(9).toString('hex')}`;
  const base = {
    id,
    object: 'chat.completion.chunk' as const,
    created: createdSeconds,
    model: request.model,
  };
  const chunk = (choice: ChunkChoice): string => JSON.stringify({ ...base, choices: [choice] });
  const lanes = answer.choices.map((choice) => choiceChunks(choice, answer.logprobs));
  const events: string[] = [];
  const longest = Math.max(...lanes.map((lane) => lane.length));
  for (let position = 0; position < longest; position++) {
    for (const lane of lanes) {
      const next = lane[position];
      if (next !== undefined) events.push(chunk(next));
    }
  }
  if (request.stream_options?.include_usage) {
    events.push(JSON.stringify({ ...base, choices: [], usage: simUsage(request, answer.completionTokens) }));
  }
  events.push(DONE_DATA);
  return events;
}

/** One choice's chunk choices, role chunk first and finish chunk last. */
function choiceChunks(choice: SimChoice, withLogprobs: boolean): ChunkChoice[] {
  const { index } = choice;
  // With logprobs asked for, every chunk names the field, null where it carries no token (OpenAI).
  const make = (
    delta: ChunkChoice['delta'],
    logprobs: unknown = null,
    finish: ChunkChoice['finish_reason'] = null,
  ) =>
    withLogprobs
      ? { index, delta, logprobs, finish_reason: finish }
      : { index, delta, finish_reason: finish };
  if (choice.kind === 'tool_calls') {
    const chunks: ChunkChoice[] = [];
    choice.calls.forEach((call, callIndex) => {
      const head = {
        index: callIndex,
        id: call.id,
        type: 'function' as const,
        function: { name: call.name, arguments: '' },
      };
      // The first call's head rides on the role chunk, as OpenAI sends it.
      if (callIndex === 0) chunks.push(make({ role: 'assistant', content: null, tool_calls: [head] }));
      else chunks.push(make({ tool_calls: [head] }));
      for (const piece of call.pieces)
        chunks.push(make({ tool_calls: [{ index: callIndex, function: { arguments: piece } }] }));
    });
    chunks.push(make({}, null, 'tool_calls'));
    return chunks;
  }
  const chunks = [make({ role: 'assistant', content: '' })];
  choice.tokens.forEach((token, position) => {
    chunks.push(make({ content: token }, { content: [choice.logprobs?.[position]], refusal: null }));
  });
  chunks.push(make({}, null, choice.finishReason));
  return chunks;
}

/** The usage the sim reports for a request that produced `completionTokens` tokens. */
function simUsage(request: ChatCompletionRequest, completionTokens: number): Usage {
  const promptTokens = estimatePromptTokens(request);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** The non-streamed sim answer: the same choices as the stream, each whole. */
export function simCompletion(request: ChatCompletionRequest): ChatCompletion {
  const answer = simAnswer(request);
  return {
    id: `chatcmpl-sim${randomBytes(9).toString('hex')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: answer.choices.map((choice) => {
      if (choice.kind === 'tool_calls') {
        const tool_calls = choice.calls.map((call) => ({
          id: call.id,
          type: 'function' as const,
          function: { name: call.name, arguments: call.pieces.join('') },
        }));
        const message = { role: 'assistant' as const, content: null, tool_calls };
        return answer.logprobs
          ? { index: choice.index, message, logprobs: null, finish_reason: choice.finishReason }
          : { index: choice.index, message, finish_reason: choice.finishReason };
      }
      const message = { role: 'assistant' as const, content: choice.tokens.join('') };
      return answer.logprobs
        ? {
            index: choice.index,
            message,
            logprobs: { content: choice.logprobs ?? [], refusal: null },
            finish_reason: choice.finishReason,
          }
        : { index: choice.index, message, finish_reason: choice.finishReason };
    }),
    usage: simUsage(request, answer.completionTokens),
  };
}

const FINISH_CHUNK = /"finish_reason":"/;
const USAGE_CHUNK = /"choices":\[\]/;

const CHOICE_INDEX = /"choices":\[\{"index":(\d+)/;

/**
 * Whether event `position` starts a new round of the choices: an `n`-choice answer sends one chunk
 * per choice in turn, and like OpenAI generating them side by side, each round takes one token gap.
 */
function startsRound(events: readonly string[], position: number): boolean {
  if (position === 0) return true;
  const index = (event: string | undefined) => Number(CHOICE_INDEX.exec(event ?? '')?.[1] ?? 0);
  return index(events[position]) <= index(events[position - 1]);
}

/** How many events are paced: all but the trailing finish chunks, usage chunk and `[DONE]`. */
function pacedEventCount(events: readonly string[]): number {
  let count = events.length;
  for (; count > 0; count--) {
    const event = events[count - 1] as string;
    if (event !== DONE_DATA && !FINISH_CHUNK.test(event) && !USAGE_CHUNK.test(event)) break;
  }
  return count;
}

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
const SIM_ERROR_EVENT = JSON.stringify({
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
  const pacedCount = pacedEventCount(events);
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
    const gapMs = tokenGapMs > 0 && startsRound(events, index + 1) ? tokenGapMs : 0;
    if (index > 0) next += gapMs;
    else next = now() + gapMs;
    yield events[index] as string;
  }
}

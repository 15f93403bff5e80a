import { errorBody } from '@spool/protocol';
import fc from 'fast-check';
import { GatewayError, UpstreamError } from '../src/errors.js';
import { normalizeChatEvents } from '../src/providers/normalize-chat-events.js';
import type { UpstreamEvent } from '../src/providers/provider.js';
import type { EventPolicy } from '../src/surfaces/surface.js';

/**
 * Chat completion chunks an OpenAI-compatible upstream may send, for the property tests of the
 * chat normalizer and of the translators it feeds: well-formed ones in the variety upstreams use
 * (nulls where OpenAI's types allow them, a tool call without `index`, fields Spool does not know),
 * and misshapen ones, each with one field of a type the official SDKs and the translators cannot
 * read. A misshapen chunk must end the stream with one `upstream_protocol_error`.
 */

type Chunk = Record<string, unknown>;

const head = { id: 'chatcmpl-f', object: 'chat.completion.chunk', created: 1, model: 'm' };

function withChoice(choice: unknown, extra: Chunk = {}): Chunk {
  return { ...head, choices: [choice], ...extra };
}

function withDelta(delta: unknown, extra: Chunk = {}): Chunk {
  return withChoice({ index: 0, delta, finish_reason: null }, extra);
}

function withToolCall(call: unknown): Chunk {
  return withDelta({ tool_calls: [call] });
}

/** Chunks every reader must take: the normalizer relays them as they came. */
const WELL_FORMED_CHUNKS: readonly Chunk[] = [
  withDelta({ role: 'assistant', content: null, refusal: null, tool_calls: null }, { usage: null }),
  withDelta({ content: 'x', a_field_from_the_future: { nested: [1] } }, { system_fingerprint: 'fp' }),
  withChoice({ index: 0, delta: null, finish_reason: null, logprobs: null }),
  withChoice({ index: 0 }),
  { ...head, choices: [], usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 } },
  withToolCall({ index: 3, id: 'call_3', type: 'function', function: { name: 'f3', arguments: '' } }),
  withToolCall({ index: 3, id: null, function: { name: null, arguments: '{"a":' } }),
  // Some OpenAI-compatible servers leave the index of their only tool call out.
  withToolCall({ function: { arguments: '1}' } }),
  withToolCall({ index: 3, function: null }),
];

/** Chunks with one field of the wrong type: each must end the stream with upstream_protocol_error. */
const MISSHAPEN_CHUNKS: readonly Chunk[] = [
  { ...head, choices: [null] },
  { ...head, choices: [5] },
  { ...head, choices: [['a']] },
  { ...head, choices: ['text'] },
  { ...head, choices: [{ index: 0, delta: { content: 'ok' } }, null] },
  withChoice({ index: '0', delta: {} }),
  withChoice({ index: null, delta: {} }),
  withChoice({ index: 0.5, delta: {} }),
  withDelta('text'),
  withDelta(['text']),
  withDelta(5),
  withDelta({ content: 5 }),
  withDelta({ content: { text: 'x' } }),
  withDelta({ content: ['x'] }),
  withDelta({ refusal: 1 }),
  withDelta({ tool_calls: { index: 0 } }),
  withDelta({ tool_calls: 'f' }),
  withDelta({ tool_calls: [null] }),
  withDelta({ tool_calls: [5] }),
  withDelta({ tool_calls: [[]] }),
  withToolCall({ index: '0', function: { arguments: '{}' } }),
  withToolCall({ index: null, function: { arguments: '{}' } }),
  withToolCall({ index: 0, id: 7, function: { name: 'f', arguments: '' } }),
  withToolCall({ index: 0, function: 'f' }),
  withToolCall({ index: 0, function: { name: 'f', arguments: 5 } }),
  withToolCall({ index: 0, function: { name: 'f', arguments: { a: 1 } } }),
  withToolCall({ index: 0, function: { name: 5, arguments: '' } }),
  withChoice({ index: 0, delta: {}, finish_reason: 5 }),
  withChoice({ index: 0, delta: {}, finish_reason: { reason: 'stop' } }),
  withDelta({ content: 'x' }, { usage: 5 }),
  withDelta({ content: 'x' }, { usage: 'many' }),
  { ...head, choices: [], usage: [1, 2] },
];

/** A well-formed chunk's data, as an upstream may write it. */
export const wellFormedChunkData: fc.Arbitrary<string> = fc
  .constantFrom(...WELL_FORMED_CHUNKS)
  .map((chunk) => JSON.stringify(chunk));

/** A misshapen chunk's data. */
export const misshapenChunkData: fc.Arbitrary<string> = fc
  .constantFrom(...MISSHAPEN_CHUNKS)
  .map((chunk) => JSON.stringify(chunk));

/** A text chunk, a tool call's first chunk, or a later fragment of its arguments. */
const translatableChunk: fc.Arbitrary<Chunk> = fc.oneof(
  fc.string({ maxLength: 6 }).map((content) => withDelta({ content })),
  fc.tuple(fc.nat(2), fc.string({ maxLength: 5 })).map(([index, args]) =>
    withToolCall({
      index,
      id: `call_${index}`,
      type: 'function',
      function: { name: `f${index}`, arguments: args },
    }),
  ),
  fc
    .tuple(fc.nat(2), fc.string({ minLength: 1, maxLength: 5 }))
    .map(([index, args]) => withToolCall({ index, function: { arguments: args } })),
  fc.constantFrom(...WELL_FORMED_CHUNKS),
);

/** A chat stream an upstream may send, and whether a misshapen chunk is among its chunks. */
export interface ChatStream {
  datas: string[];
  misshapen: boolean;
}

/**
 * Chat streams of text, tool calls and well-formed chunks of every kind, then a finish reason,
 * usage and `[DONE]`; about half of them with one misshapen chunk somewhere before the finish.
 */
export const chatStream: fc.Arbitrary<ChatStream> = fc
  .tuple(
    fc.array(translatableChunk, { maxLength: 12 }),
    fc.option(fc.tuple(fc.nat(), fc.constantFrom(...MISSHAPEN_CHUNKS))),
    fc.constantFrom('stop', 'length', 'tool_calls', 'content_filter'),
  )
  .map(([chunks, fault, finishReason]) => {
    const all = [...chunks];
    if (fault !== null) all.splice(fault[0] % (all.length + 1), 0, fault[1]);
    all.push(withChoice({ index: 0, delta: {}, finish_reason: finishReason }));
    all.push({ ...head, choices: [], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } });
    return { datas: [...all.map((chunk) => JSON.stringify(chunk)), '[DONE]'], misshapen: fault !== null };
  });

/** What a client of a translated surface gets: the events relayed, then the error event if any. */
export interface Relayed {
  events: UpstreamEvent[];
  /** What the translated stream rejected with, if it did. */
  thrown: unknown;
}

/**
 * Runs `datas` as an upstream's chat stream through the chat normalizer (as the `openai` provider
 * does) and `translate` (a surface's translator), then reads it as the relay does: up to the
 * surface's terminal event, and a rejection becomes the surface's one error event (its own body for
 * a GatewayError, a generic `upstream_error` otherwise, as relay/stream-relay.ts `describeStop`).
 */
export async function relayTranslated(
  datas: readonly string[],
  translate: (chat: AsyncIterable<UpstreamEvent>) => AsyncIterable<UpstreamEvent>,
  policy: EventPolicy,
): Promise<Relayed> {
  const upstream = (async function* () {
    for (const data of datas) yield { data } as UpstreamEvent;
  })();
  const iterator = translate(normalizeChatEvents(upstream, 'fuzz'))[Symbol.asyncIterator]();
  const events: UpstreamEvent[] = [];
  try {
    for (;;) {
      const result = await iterator.next();
      if (result.done) return { events, thrown: undefined };
      events.push(result.value);
      if (policy.ending(result.value.data, result.value.event) !== undefined) {
        await iterator.return?.();
        return { events, thrown: undefined };
      }
    }
  } catch (thrown) {
    const body =
      thrown instanceof GatewayError
        ? thrown.body
        : errorBody('upstream_error', 'The upstream stream failed unexpectedly.');
    events.push(policy.errorEvent(body));
    return { events, thrown };
  }
}

/** Whether `thrown` is the normalizer's `upstream_protocol_error` (and not, say, a TypeError). */
export function isProtocolError(thrown: unknown): boolean {
  return thrown instanceof UpstreamError && thrown.code === 'upstream_protocol_error';
}

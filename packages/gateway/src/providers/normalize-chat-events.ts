import { DONE_DATA, type OpenAIErrorBody } from '@spool/protocol';
import type { UpstreamError } from '../errors.js';
import { ChatChunkShape } from './chat-chunk-shape.js';
import { MappedEvents, upstreamProtocolError } from './mapped-events.js';
import { type BufferedEventSource, SseEvent, type UpstreamEvent } from './provider.js';
import { startsWithErrorKey } from './upstream-event-error.js';

/**
 * What one event of an OpenAI-compatible upstream becomes on the chat surface: the event to relay
 * (the same object when it needs no change), `undefined` to drop it, or the `UpstreamError` that
 * ends the stream because the upstream broke the format.
 *
 * - Chat Completions streams carry unnamed events only, and `EventSource.onmessage` sees nothing
 *   else, so an event name is removed (`message` is the default name anyway).
 * - `event: ping`, and events with no data, carry nothing: dropped.
 * - `event: error`, and a chunk that is an error object, become one OpenAI-shaped error event with
 *   the upstream's message (code `upstream_error` when it gave none).
 * - `[DONE]` and JSON objects with a `choices` array are chunks: relayed, unless a field the
 *   official SDKs or Spool's translators read has the wrong type (`chunkFault`): then the chunk is
 *   `upstream_protocol_error`, whatever its event's name.
 * - Anything else in an unnamed (or `message`) event is `upstream_protocol_error`; in an event the
 *   upstream named otherwise it is an extension of its own, and dropped.
 *
 * Pass-through surfaces keep upstream event names by design: this is the chat surface's rule only.
 *
 * With the stream's `shape`, a chunk in the shape of one already checked is relayed without a
 * parse of its own (`ChatChunkShape`: it is that chunk with another text), and the first chunk
 * with text teaches the shape.
 */
export function normalizeChatEvent(
  event: UpstreamEvent,
  provider: string,
  shape?: ChatChunkShape,
): UpstreamEvent | UpstreamError | undefined {
  const { data } = event;
  const type = event.event === 'message' ? undefined : event.event;
  if (type === 'ping') return undefined;
  if (type === 'error') return { data: JSON.stringify(upstreamErrorBody(parseOrText(data))) };
  // The event itself when it carries no name: the common case allocates nothing.
  const unnamed = event.event === undefined ? event : { data };
  if (data === DONE_DATA) return unnamed;
  if (shape?.matches(data)) return unnamed;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    if (data.trim() === '') return undefined;
    return type === undefined ? upstreamProtocolError(provider, 'is not JSON', data) : undefined;
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
    const fields = parsed as { error?: unknown; choices?: unknown };
    // Truthy, as the openai SDK reads it. Relayed as it came only when it is OpenAI's shape and
    // starts with its `error` key, which is how the relay recognizes the stream's final error event.
    if (fields.error) {
      if (isCompleteErrorBody(parsed) && startsWithErrorKey(data)) return unnamed;
      return { data: JSON.stringify(upstreamErrorBody(parsed)) };
    }
    if (Array.isArray(fields.choices)) {
      const fault = chunkFault(fields.choices, (parsed as { usage?: unknown }).usage);
      if (fault !== undefined)
        return upstreamProtocolError(provider, `is a chat completion chunk whose ${fault}`, data);
      // Kept on the event, so a translator reading it does not parse it again.
      if (unnamed instanceof SseEvent) unnamed.keepParsed(parsed);
      shape?.learn(data, fields as { choices: readonly unknown[] });
      return unnamed;
    }
  }
  return type === undefined
    ? upstreamProtocolError(provider, 'is not a chat completion chunk', data)
    : undefined;
}

/** The fields of a choice (and its delta and tool calls) that `chunkFault` checks. */
interface ChoiceFields {
  index?: unknown;
  delta?: unknown;
  finish_reason?: unknown;
}

interface DeltaFields {
  content?: unknown;
  refusal?: unknown;
  tool_calls?: unknown;
}

interface ToolCallFields {
  index?: unknown;
  id?: unknown;
  function?: unknown;
}

interface FunctionFields {
  name?: unknown;
  arguments?: unknown;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Absent, `null` (which the SDKs' types allow where a field is optional) or a string. */
function isOptionalString(value: unknown): boolean {
  return value == null || typeof value === 'string';
}

/** Absent, `null` or an object. */
function isOptionalObject(value: unknown): boolean {
  return value == null || isObject(value);
}

/** Absent or an integer (the schema's `index` is an integer; some upstreams leave a tool call's out). */
function isOptionalIndex(value: unknown): boolean {
  return value === undefined || Number.isInteger(value);
}

/**
 * Which field of a chunk has a type the official SDKs and Spool's translators cannot read (a
 * choice that is not an object, a `delta` or `usage` that is not one, text or a tool call's name
 * or arguments that is not a string, an `index` that is not an integer …), as a path
 * (`choices[0].delta.content is not a string`), or `undefined` when none has. The types are
 * OpenAI's `CreateChatCompletionStreamResponse`; `null` stands for absent where they allow it
 * (openai-python's `Optional`), and fields not named here, unknown ones included, are not read.
 * Type checks only, no allocation unless a field is wrong: it runs once per chunk.
 */
function chunkFault(choices: readonly unknown[], usage: unknown): string | undefined {
  if (!isOptionalObject(usage)) return 'usage is not an object';
  for (let at = 0; at < choices.length; at++) {
    const choice = choices[at];
    if (!isObject(choice)) return `choices[${at}] is not an object`;
    const { index, delta, finish_reason } = choice as ChoiceFields;
    if (!isOptionalIndex(index)) return `choices[${at}].index is not an integer`;
    if (!isOptionalString(finish_reason)) return `choices[${at}].finish_reason is not a string`;
    if (delta == null) continue;
    if (!isObject(delta)) return `choices[${at}].delta is not an object`;
    const fault = deltaFault(delta as DeltaFields);
    if (fault !== undefined) return `choices[${at}].delta.${fault}`;
  }
  return undefined;
}

function deltaFault({ content, refusal, tool_calls }: DeltaFields): string | undefined {
  if (!isOptionalString(content)) return 'content is not a string';
  if (!isOptionalString(refusal)) return 'refusal is not a string';
  if (tool_calls == null) return undefined;
  if (!Array.isArray(tool_calls)) return 'tool_calls is not an array';
  for (let at = 0; at < tool_calls.length; at++) {
    const call: unknown = tool_calls[at];
    if (!isObject(call)) return `tool_calls[${at}] is not an object`;
    const { index, id, function: fn } = call as ToolCallFields;
    if (!isOptionalIndex(index)) return `tool_calls[${at}].index is not an integer`;
    if (!isOptionalString(id)) return `tool_calls[${at}].id is not a string`;
    if (fn == null) continue;
    if (!isObject(fn)) return `tool_calls[${at}].function is not an object`;
    const { name, arguments: args } = fn as FunctionFields;
    if (!isOptionalString(name)) return `tool_calls[${at}].function.name is not a string`;
    if (!isOptionalString(args)) return `tool_calls[${at}].function.arguments is not a string`;
  }
  return undefined;
}

function parseOrText(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

/** Whether an error body has every field of OpenAI's shape (then it is relayed byte for byte). */
function isCompleteErrorBody(value: object): boolean {
  const error = (value as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return false;
  const { message, type, code, param } = error as Record<string, unknown>;
  return (
    typeof message === 'string' &&
    typeof type === 'string' &&
    (typeof code === 'string' || code === null) &&
    (typeof param === 'string' || param === null)
  );
}

/**
 * An upstream's error, as sent in an `event: error` or an `{"error": …}` chunk (OpenAI's shape, a
 * bare string, `{"message": …}`), in OpenAI's shape with the upstream's own message and code.
 */
function upstreamErrorBody(raw: unknown): OpenAIErrorBody {
  const record = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : undefined;
  const inner =
    record && typeof record.error === 'object' && record.error !== null
      ? (record.error as Record<string, unknown>)
      : record;
  let message = 'The upstream reported an error mid-stream.';
  if (typeof raw === 'string' && raw.trim() !== '') message = raw.trim().slice(0, 2000);
  else if (typeof inner?.message === 'string') message = inner.message;
  else if (typeof record?.error === 'string') message = record.error;
  const code =
    typeof inner?.code === 'string'
      ? inner.code
      : typeof inner?.code === 'number'
        ? String(inner.code)
        : null;
  return {
    error: {
      message,
      type: typeof inner?.type === 'string' ? inner.type : 'api_error',
      code: code ?? 'upstream_error',
      param: typeof inner?.param === 'string' ? inner.param : null,
    },
  };
}

/**
 * The events of an OpenAI-compatible upstream's chat stream, each through `normalizeChatEvent`:
 * what comes out is OpenAI's chunk format, or one error event, or the iterator rejects with
 * `upstream_protocol_error`. Keeps the source's batching (`takeBuffered`).
 */
export function normalizeChatEvents(
  source: AsyncIterator<UpstreamEvent>,
  provider: string,
): AsyncIterableIterator<UpstreamEvent> & BufferedEventSource {
  return new NormalizedChatEvents(source, provider);
}

/** One chat stream's events through `normalizeChatEvent`, with the shape its chunks are learned in. */
class NormalizedChatEvents extends MappedEvents {
  readonly #provider: string;
  readonly #shape = new ChatChunkShape();

  constructor(source: AsyncIterator<UpstreamEvent>, provider: string) {
    super(source);
    this.#provider = provider;
  }

  protected map(event: UpstreamEvent): UpstreamEvent | UpstreamError | undefined {
    return normalizeChatEvent(event, this.#provider, this.#shape);
  }
}

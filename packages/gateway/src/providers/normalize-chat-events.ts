import { DONE_DATA, type OpenAIErrorBody } from '@spool/protocol';
import { UpstreamError } from '../errors.js';
import { ITERATION_DONE } from '../iteration.js';
import {
  type BufferedEventSource,
  NO_EVENTS,
  SseEvent,
  takeBuffered,
  type UpstreamEvent,
} from './provider.js';

/** Data whose first key is `error` (the relay's test for an error event, relay/spool-batch.ts). */
const ERROR_FIRST = /^\s*\{\s*"error"\s*:/;

/** The longest part of an unreadable event quoted in the error that reports it. */
const QUOTED_CHARS = 200;

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
 * - `[DONE]` and JSON objects with a `choices` array are chunks: relayed.
 * - Anything else in an unnamed (or `message`) event is `upstream_protocol_error`; in an event the
 *   upstream named otherwise it is an extension of its own, and dropped.
 *
 * Pass-through surfaces keep upstream event names by design: this is the chat surface's rule only.
 */
export function normalizeChatEvent(
  event: UpstreamEvent,
  provider: string,
): UpstreamEvent | UpstreamError | undefined {
  const { data } = event;
  const type = event.event === 'message' ? undefined : event.event;
  if (type === 'ping') return undefined;
  if (type === 'error') return { data: JSON.stringify(upstreamErrorBody(parseOrText(data))) };
  // The event itself when it carries no name: the common case allocates nothing.
  const unnamed = event.event === undefined ? event : { data };
  if (data === DONE_DATA) return unnamed;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    if (data.trim() === '') return undefined;
    return type === undefined ? protocolError(provider, 'is not JSON', data) : undefined;
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
    const fields = parsed as { error?: unknown; choices?: unknown };
    // Truthy, as the openai SDK reads it. Relayed as it came only when it is OpenAI's shape and
    // starts with its `error` key, which is how the relay recognizes the stream's final error event.
    if (fields.error) {
      if (isCompleteErrorBody(parsed) && ERROR_FIRST.test(data)) return unnamed;
      return { data: JSON.stringify(upstreamErrorBody(parsed)) };
    }
    if (Array.isArray(fields.choices)) {
      if (unnamed instanceof SseEvent) unnamed.keepParsed(parsed);
      return unnamed;
    }
  }
  return type === undefined ? protocolError(provider, 'is not a chat completion chunk', data) : undefined;
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

function protocolError(provider: string, what: string, data: string): UpstreamError {
  const quoted = data.length > QUOTED_CHARS ? `${data.slice(0, QUOTED_CHARS)}…` : data;
  return UpstreamError.ofCode(
    'upstream_protocol_error',
    `Upstream "${provider}" sent an event that ${what}: ${JSON.stringify(quoted)}. The stream was stopped.`,
    // An upstream that breaks the format would most likely break it again: not retried.
    { retryable: false },
  );
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

/** A plain iterator rather than an async generator: an idle open stream holds it (bench/memory). */
class NormalizedChatEvents implements AsyncIterableIterator<UpstreamEvent>, BufferedEventSource {
  readonly #source: AsyncIterator<UpstreamEvent>;
  readonly #provider: string;
  /** A protocol error found among buffered events: `next()` rejects with it after those before it. */
  #failure: UpstreamError | undefined;
  #ended = false;

  constructor(source: AsyncIterator<UpstreamEvent>, provider: string) {
    this.#source = source;
    this.#provider = provider;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<UpstreamEvent>> {
    const failure = this.#failure;
    if (failure !== undefined) {
      this.#failure = undefined;
      this.#ended = true;
      return Promise.reject(failure);
    }
    if (this.#ended) return Promise.resolve(ITERATION_DONE);
    return this.#source.next().then(this.#onResult);
  }

  readonly #onResult = (
    result: IteratorResult<UpstreamEvent>,
  ): IteratorResult<UpstreamEvent> | Promise<IteratorResult<UpstreamEvent>> => {
    if (result.done) return result;
    const normalized = normalizeChatEvent(result.value, this.#provider);
    if (normalized instanceof UpstreamError) {
      this.#ended = true;
      throw normalized;
    }
    if (normalized !== undefined) return { done: false, value: normalized };
    // Dropped: the next one is pulled by one loop, so a long run of pings does not chain a promise per ping.
    return new Promise((resolve, reject) => this.#pull(resolve, reject));
  };

  #pull(resolve: (result: IteratorResult<UpstreamEvent>) => void, reject: (error: unknown) => void): void {
    this.#source.next().then((result) => {
      if (result.done) return resolve(result);
      const normalized = normalizeChatEvent(result.value, this.#provider);
      if (normalized instanceof UpstreamError) {
        this.#ended = true;
        return reject(normalized);
      }
      if (normalized === undefined) return this.#pull(resolve, reject);
      resolve({ done: false, value: normalized });
    }, reject);
  }

  takeBuffered(): readonly UpstreamEvent[] {
    if (this.#ended || this.#failure !== undefined) return NO_EVENTS;
    const events = takeBuffered(this.#source);
    // The common case, every event a chunk as it came, hands the source's array on as it is.
    let out: UpstreamEvent[] | undefined;
    for (let index = 0; index < events.length; index++) {
      const event = events[index] as UpstreamEvent;
      const normalized = normalizeChatEvent(event, this.#provider);
      if (normalized === event && out === undefined) continue;
      out ??= events.slice(0, index);
      if (normalized instanceof UpstreamError) {
        this.#failure = normalized;
        break;
      }
      if (normalized !== undefined) out.push(normalized);
    }
    return out ?? events;
  }

  return(): Promise<IteratorResult<UpstreamEvent>> {
    this.#ended = true;
    this.#failure = undefined;
    return this.#source.return?.() ?? Promise.resolve(ITERATION_DONE);
  }
}

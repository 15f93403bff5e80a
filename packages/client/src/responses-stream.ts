import type { FinishReason, Usage } from '@spool/protocol';
import { type ChatStatusEvent, type ChatStreamOptions, EventLog } from './chat-stream.js';
import type { ChatDeltaEvent } from './delta-assembler.js';
import { StreamError } from './errors.js';
import { connectEventStream } from './event-stream.js';
import type { EventStreamMessage, EventStreamOptions, StreamStatus } from './event-stream-types.js';
import { StatsRecorder, type StreamStats } from './stats.js';

/** A Responses API `response` object, as the server sends it (only what the client reads is typed). */
export interface ResponseObject {
  id: string;
  status: string;
  output: Array<Record<string, unknown>>;
  usage?: { input_tokens?: number; output_tokens?: number; total_tokens?: number } | null;
  [key: string]: unknown;
}

/** A connection state change of a Responses stream; `done` carries the final Response. */
export type ResponsesStatusEvent =
  | Exclude<ChatStatusEvent, { type: 'done' }>
  | { type: 'done'; response: ResponseObject | undefined };

/**
 * What a Responses stream yields: the same `text-delta`, `tool-call-delta`, `usage` and `finish`
 * events as a chat stream (choice 0), status changes, and every raw Responses event as `event`.
 */
export type ResponsesStreamEvent =
  | ChatDeltaEvent
  | ResponsesStatusEvent
  | { type: 'event'; event: { type: string; sequence_number?: number; [key: string]: unknown } };

/** Per-call options of `client.responses.stream` (those of `chat.stream`, but `onDone`). */
export interface ResponsesStreamOptions extends Omit<ChatStreamOptions, 'onEvent' | 'onStatus' | 'onDone'> {
  /** Every event, as the iterable yields it. */
  onEvent?: (event: ResponsesStreamEvent) => void;
  /** Connection state changes (`restarted` means: discard the partial text shown so far). */
  onStatus?: (status: ResponsesStatusEvent) => void;
  /** The final Response, once the stream is done. */
  onDone?: (response: ResponseObject | undefined) => void;
}

/** A running Responses stream: async-iterable, with conveniences. */
export interface ResponsesStream extends AsyncIterable<ResponsesStreamEvent> {
  /** Resolves with the output text once done; rejects with the stream's error. */
  text(): Promise<string>;
  /** Resolves with the final Response (from its terminal event). */
  finalResponse(): Promise<ResponseObject | undefined>;
  /** Stops the stream and the generation (`POST /responses/{id}/cancel`). */
  cancel(): void;
  /** Stops reading but lets the generation go on (resume it later by `responseId`). */
  detach(): void;
  /** The id reconnects resume by, once known: Spool's `X-Stream-Id`, or OpenAI's background Response id. */
  readonly streamId: string | undefined;
  /** The Response id, once known. */
  readonly responseId: string | undefined;
  /** The `sequence_number` of the last event delivered (-1 before the first). */
  readonly lastSequenceNumber: number;
  stats(): StreamStats;
}

/** A Responses stream event as parsed, before normalization. */
type RawResponsesEvent = { type: string; [key: string]: unknown };

/**
 * The id of a background Response, from its `response.created` event: only those can be resumed by
 * `GET /responses/{id}?stream=true&starting_after=N` (OpenAI refuses it for any other Response).
 */
function backgroundResponseId(event: RawResponsesEvent | undefined): string | undefined {
  if (event?.type !== 'response.created') return undefined;
  const response = event.response as Partial<ResponseObject> | undefined;
  return response?.background === true && typeof response.id === 'string' ? response.id : undefined;
}

const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  max_output_tokens: 'length',
  content_filter: 'content_filter',
};

/** The Response id of a Spool stream id (`str_X` is `resp_X`). */
export function responseIdOfStream(streamId: string): string {
  return streamId.startsWith('str_') ? `resp_${streamId.slice(4)}` : streamId;
}

/**
 * Streams one Responses API request from `url` with the resilient engine: reconnects resume by
 * `starting_after` (SSE ids are `sequence_number`s, from 0), a terminal `response.*` event ends
 * it, and events are normalized to the chat stream's `text-delta`/`tool-call-delta`/`usage`/`finish`.
 */
export function streamResponses(
  url: string,
  body: string | undefined,
  engineOptions: EventStreamOptions,
  options: ResponsesStreamOptions = {},
): ResponsesStream {
  const stats = new StatsRecorder();
  const log = new EventLog<ResponsesStreamEvent>();
  let text = '';
  let responseId: string | undefined;
  let final: ResponseObject | undefined;
  let usage: Usage | undefined;
  const calls = new Map<number, { index: number; id: string | undefined; name: string | undefined }>();

  const emit = (event: ResponsesStreamEvent) => {
    log.push(event);
    options.onEvent?.(event);
    if (event.type === 'text-delta') options.onText?.(event.delta, event.text);
    else if (event.type === 'tool-call-delta') options.onToolCall?.(event);
    else if (event.type === 'usage') options.onUsage?.(event);
    else if (event.type !== 'finish' && event.type !== 'event') options.onStatus?.(event);
  };

  const reset = () => {
    text = '';
    final = undefined;
    usage = undefined;
    calls.clear();
  };

  // The engine reads an unnumbered event's id and stream name before `onEvent` sees it: parse once.
  let parsedData: string | undefined;
  let parsedEvent: RawResponsesEvent | undefined;
  const parse = (data: string): RawResponsesEvent => {
    if (data !== parsedData || parsedEvent === undefined) {
      parsedEvent = JSON.parse(data) as RawResponsesEvent;
      parsedData = data;
    }
    return parsedEvent;
  };
  const parsedOrUndefined = (data: string): RawResponsesEvent | undefined => {
    try {
      return parse(data);
    } catch {
      return undefined;
    }
  };

  const onEvent = (message: EventStreamMessage) => {
    let event: RawResponsesEvent;
    try {
      event = parse(message.data);
    } catch (error) {
      throw new StreamError(`The server sent an event that is not JSON (${message.data.slice(0, 80)}).`, {
        code: 'invalid_chunk',
        retryable: false,
        cause: error,
      });
    }
    emit({ type: 'event', event });
    const type = event.type ?? message.event;
    if (type === 'response.created') responseId = (event.response as ResponseObject | undefined)?.id;
    if (type === 'response.output_text.delta' || type === 'response.refusal.delta') {
      const delta = String(event.delta ?? '');
      text += delta;
      stats.addToken();
      emit({ type: 'text-delta', choiceIndex: 0, delta, text });
    } else if (type === 'response.output_item.added') {
      const item = event.item as { type?: string; call_id?: string; name?: string } | undefined;
      if (item?.type === 'function_call') {
        const call = { index: calls.size, id: item.call_id, name: item.name };
        calls.set(Number(event.output_index), call);
        emit({
          type: 'tool-call-delta',
          choiceIndex: 0,
          index: call.index,
          id: call.id,
          name: call.name,
          argumentsDelta: '',
        });
      }
    } else if (type === 'response.function_call_arguments.delta') {
      const call = calls.get(Number(event.output_index));
      if (call)
        emit({
          type: 'tool-call-delta',
          choiceIndex: 0,
          index: call.index,
          id: call.id,
          name: call.name,
          argumentsDelta: String(event.delta ?? ''),
        });
    } else if (type !== undefined && TERMINAL.has(type)) {
      final = event.response as ResponseObject | undefined;
      const reported = final?.usage;
      if (reported) {
        const prompt = reported.input_tokens ?? 0;
        const completion = reported.output_tokens ?? 0;
        usage = {
          prompt_tokens: prompt,
          completion_tokens: completion,
          total_tokens: reported.total_tokens ?? prompt + completion,
        };
        emit({ type: 'usage', usage });
      }
      const reason = (final?.incomplete_details as { reason?: string } | null | undefined)?.reason;
      const finishReason: FinishReason =
        (reason ? FINISH_REASONS[reason] : undefined) ?? (calls.size > 0 ? 'tool_calls' : 'stop');
      emit({ type: 'finish', choiceIndex: 0, finishReason });
    }
  };

  const stream = connectEventStream(
    url,
    {
      ...engineOptions,
      method: body === undefined ? 'GET' : 'POST',
      body,
      requireDone: true,
      firstEventId: 0,
      // OpenAI sends neither `X-Stream-Id` nor `id:` lines: a background Response is named by
      // `response.created` and positioned by `sequence_number` (what `starting_after` takes).
      eventIdOf: (message) => {
        const sequence = parsedOrUndefined(message.data)?.sequence_number;
        return Number.isSafeInteger(sequence) && (sequence as number) >= 0 ? String(sequence) : undefined;
      },
      streamIdOf: (message) => backgroundResponseId(parsedOrUndefined(message.data)),
      isTerminal: (message) => TERMINAL.has(message.event ?? ''),
      signal: options.signal,
      stats,
    },
    {
      onEvent,
      onStatus(status: StreamStatus) {
        if (status.type === 'restarted') reset();
        if (status.type === 'done') {
          emit({ type: 'done', response: final });
          options.onDone?.(final);
          return;
        }
        emit(status);
      },
      onError: (error) => options.onError?.(error),
    },
  );
  stream.done.then(
    () => log.end(),
    (error: unknown) => log.fail(error),
  );

  return {
    [Symbol.asyncIterator]: () => log.read(),
    text: () => stream.done.then(() => text),
    finalResponse: () => stream.done.then(() => final),
    cancel: () => stream.cancel(),
    detach: () => stream.detach(),
    get streamId() {
      return stream.streamId;
    },
    get responseId() {
      return responseId ?? (stream.streamId === undefined ? undefined : responseIdOfStream(stream.streamId));
    },
    get lastSequenceNumber() {
      return stream.lastEventId;
    },
    stats: () => stream.stats(),
  };
}

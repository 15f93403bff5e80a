import type { ChatCompletion, ChatCompletionChunk } from '@spool/protocol';
import {
  type ChatDeltaEvent,
  DeltaAssembler,
  type ToolCallDeltaEvent,
  type UsageEvent,
} from './delta-assembler.js';
import { type SpoolClientError, StreamError } from './errors.js';
import { connectEventStream } from './event-stream.js';
import type { EventStreamOptions, HeadersOption, RetryContext, StreamStatus } from './event-stream-types.js';
import { StatsRecorder, type StreamStats } from './stats.js';

/** A connection state change of a chat stream; `done` carries the assembled completion. */
export type ChatStatusEvent =
  | Exclude<StreamStatus, { type: 'done' }>
  | { type: 'done'; completion: ChatCompletion };

/** Everything a chat stream yields: content and tool-call deltas, usage, finish reasons and status changes. */
export type ChatStreamEvent = ChatDeltaEvent | ChatStatusEvent;

/** Per-call options of `client.chat.stream`; callbacks mirror the iterable for code that prefers them. */
export interface ChatStreamOptions {
  /** Aborting it stops the stream and the generation (like `cancel()`). */
  signal?: AbortSignal;
  /** Extra headers for this call, merged over the client's. */
  headers?: HeadersOption;
  /** Overrides the client's `retry`. */
  retry?: EventStreamOptions['retry'];
  /** Overrides the client's `onRetry`. */
  onRetry?: (context: RetryContext) => boolean | number | undefined | Promise<boolean | number | undefined>;
  /** Overrides the client's `idleTimeoutMs`. */
  idleTimeoutMs?: number;
  /** Every event, as the iterable yields it. */
  onEvent?: (event: ChatStreamEvent) => void;
  /** New content text (`delta`) and the whole text so far, for choice 0. */
  onText?: (delta: string, text: string) => void;
  /** Each tool-call fragment. */
  onToolCall?: (event: ToolCallDeltaEvent) => void;
  /** Token usage, when the server sends it. */
  onUsage?: (event: UsageEvent) => void;
  /** Connection state changes (`restarted` means: discard the partial text shown so far). */
  onStatus?: (status: ChatStatusEvent) => void;
  /** The final error, if the stream fails. */
  onError?: (error: SpoolClientError) => void;
  /** The assembled completion, once the stream is done. */
  onDone?: (completion: ChatCompletion) => void;
}

/** Options of `client.chat.resume`: those of `chat.stream`, plus where to pick the stream up. */
export interface ChatResumeOptions extends ChatStreamOptions {
  /** The last event id already shown (e.g. a stored `stream.lastEventId`); 0 replays it all. @default 0 */
  lastEventId?: number;
}

/** A running chat completion stream: async-iterable, with conveniences. */
export interface ChatStream extends AsyncIterable<ChatStreamEvent> {
  /**
   * Resolves with choice 0's text once done (for `chat.resume`: the text after its `lastEventId`);
   * rejects with the stream's error.
   */
  text(): Promise<string>;
  /** Resolves with the `chat.completion` assembled from the chunks this stream received, once done. */
  finalCompletion(): Promise<ChatCompletion>;
  /** Stops the stream and the server-side generation; iteration and `text()` then reject with `AbortError`. */
  cancel(): Promise<void>;
  /**
   * Drops the connection without stopping the generation (no `DELETE`): for an unmounting view, or
   * to hand the stream to another page, which calls `chat.resume(streamId, { lastEventId })`.
   * Iteration and `text()` then reject with an `AbortError` whose code is `detached`.
   */
  detach(): Promise<void>;
  /** The gateway's stream id, once known. */
  readonly streamId: string | undefined;
  /**
   * The highest Spool event id received so far: 0 before any (for `chat.resume`, its `lastEventId`),
   * `[DONE]`'s once done. What a later `chat.resume` passes on.
   */
  readonly lastEventId: number;
  /** Measurements so far: time to first token, tokens/s, reconnects, bytes, stall time. */
  stats(): StreamStats;
}

/** Lets several readers consume the same event sequence, each from the start (shared by the chat and Responses streams). */
export class EventLog<T> {
  private events: T[] = [];
  private ended = false;
  private error: unknown;
  private failed = false;
  private wake = new Set<() => void>();

  push(event: T): void {
    this.events.push(event);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(error: unknown): void {
    this.failed = true;
    this.error = error;
    this.notify();
  }

  async *read(): AsyncGenerator<T> {
    let index = 0;
    for (;;) {
      if (index < this.events.length) yield this.events[index++]!;
      else if (this.failed) throw this.error;
      else if (this.ended) return;
      else await new Promise<void>((resolve) => this.wake.add(resolve));
    }
  }

  private notify(): void {
    const wake = [...this.wake];
    this.wake.clear();
    for (const resolve of wake) resolve();
  }
}

/**
 * How a stream of one API is read: each event's data folded into the chat-shaped events the stream
 * yields, and into the final answer (`TFinal`: a `chat.completion`, an Anthropic message).
 */
export interface StreamCodec<TFinal> {
  /** Folds one event's data; throws a `StreamError` for data that is not this API's. */
  apply(data: string): ChatDeltaEvent[];
  /** Forgets what was folded (the stream restarted from the beginning). */
  reset(): void;
  /** The answer's text so far. */
  text(): string;
  /** The answer assembled so far. */
  final(): TFinal;
  /** An event that ends the stream besides `data: [DONE]`. */
  isTerminal?: EventStreamOptions['isTerminal'];
}

/** A stream's options, for any final answer: chat's, with `onDone` and `done` carrying `TFinal`. */
export type AssembledStreamOptions<TFinal> = Omit<ChatStreamOptions, 'onEvent' | 'onStatus' | 'onDone'> & {
  onEvent?: (event: AssembledStreamEvent<TFinal>) => void;
  onStatus?: (status: AssembledStatusEvent<TFinal>) => void;
  onDone?: (final: TFinal) => void;
};

/** A connection state change; `done` carries the final answer. */
export type AssembledStatusEvent<TFinal> =
  | Exclude<StreamStatus, { type: 'done' }>
  | { type: 'done'; final: TFinal };

/** Everything a stream yields: chat-shaped deltas and status changes. */
export type AssembledStreamEvent<TFinal> = ChatDeltaEvent | AssembledStatusEvent<TFinal>;

/** A running stream of any API, folded by its codec. */
export interface AssembledStream<TFinal> extends AsyncIterable<AssembledStreamEvent<TFinal>> {
  text(): Promise<string>;
  final(): Promise<TFinal>;
  cancel(): Promise<void>;
  detach(): Promise<void>;
  readonly streamId: string | undefined;
  readonly lastEventId: number;
  stats(): StreamStats;
}

/**
 * Streams from `url` with the resilient engine (reconnects, resume, watchdog, stats), folding each
 * event with `codec`: POSTs `body`, or with `body` undefined GETs (with `engineOptions.streamId`:
 * attaches to that stream). Chat completions and Anthropic Messages streams are both this.
 */
export function streamAssembled<TFinal>(
  url: string,
  body: string | undefined,
  engineOptions: EventStreamOptions,
  options: AssembledStreamOptions<TFinal>,
  codec: StreamCodec<TFinal>,
): AssembledStream<TFinal> {
  const stats = new StatsRecorder();
  const log = new EventLog<AssembledStreamEvent<TFinal>>();
  let final: TFinal | undefined;

  const emit = (event: AssembledStreamEvent<TFinal>) => {
    log.push(event);
    options.onEvent?.(event);
    switch (event.type) {
      case 'text-delta':
        if (event.choiceIndex === 0) options.onText?.(event.delta, event.text);
        break;
      case 'tool-call-delta':
        options.onToolCall?.(event);
        break;
      case 'usage':
        options.onUsage?.(event);
        break;
      case 'finish':
        break;
      default:
        options.onStatus?.(event);
    }
  };

  const stream = connectEventStream(
    url,
    {
      ...engineOptions,
      method: body === undefined ? 'GET' : 'POST',
      body,
      requireDone: true,
      isTerminal: codec.isTerminal,
      signal: options.signal,
      stats,
    },
    {
      onEvent(message) {
        for (const event of codec.apply(message.data)) {
          if (event.type === 'text-delta') stats.addToken();
          emit(event);
        }
      },
      onStatus(status) {
        if (status.type === 'restarted') codec.reset();
        if (status.type === 'done') {
          final = codec.final();
          emit({ type: 'done', final });
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
    text: () => stream.done.then(() => codec.text()),
    final: () => stream.done.then(() => final ?? codec.final()),
    cancel: () => stream.cancel(),
    detach: () => stream.detach(),
    get streamId() {
      return stream.streamId;
    },
    get lastEventId() {
      return stream.lastEventId;
    },
    stats: () => stream.stats(),
  };
}

/** Chat completions: OpenAI chunks folded by the {@link DeltaAssembler}. */
function chatCodec(url: string): StreamCodec<ChatCompletion> {
  const assembler = new DeltaAssembler();
  return {
    apply(data) {
      let chunk: ChatCompletionChunk;
      try {
        chunk = JSON.parse(data) as ChatCompletionChunk;
      } catch (error) {
        throw new StreamError(
          `The server sent an event that is not JSON (${data.slice(0, 80)}); is ${url} an OpenAI-compatible endpoint?`,
          { code: 'invalid_chunk', retryable: false, cause: error },
        );
      }
      return assembler.apply(chunk);
    },
    reset: () => assembler.reset(),
    text: () => assembler.text(0),
    final: () => assembler.toCompletion(),
  };
}

/**
 * Streams one chat completion from `url` with the resilient engine, assembling OpenAI deltas: POSTs
 * `body`, or with `body` undefined GETs (with `engineOptions.streamId`: attaches to that stream).
 * `client.chat.stream` and `client.chat.resume` are the usual entry points; this is them without the client's defaults.
 */
export function streamChatCompletion(
  url: string,
  body: string | undefined,
  engineOptions: EventStreamOptions,
  options: ChatStreamOptions = {},
): ChatStream {
  const { onEvent, onStatus, onDone, ...rest } = options;
  const toChat = (event: AssembledStreamEvent<ChatCompletion>): ChatStreamEvent =>
    event.type === 'done' ? { type: 'done', completion: event.final } : event;
  const stream = streamAssembled<ChatCompletion>(
    url,
    body,
    engineOptions,
    {
      ...rest,
      onEvent: onEvent && ((event) => onEvent(toChat(event))),
      onStatus: onStatus && ((status) => onStatus(toChat(status) as ChatStatusEvent)),
      onDone,
    },
    chatCodec(url),
  );
  return {
    async *[Symbol.asyncIterator]() {
      for await (const event of stream) yield toChat(event);
    },
    text: () => stream.text(),
    finalCompletion: () => stream.final(),
    cancel: () => stream.cancel(),
    detach: () => stream.detach(),
    get streamId() {
      return stream.streamId;
    },
    get lastEventId() {
      return stream.lastEventId;
    },
    stats: () => stream.stats(),
  };
}

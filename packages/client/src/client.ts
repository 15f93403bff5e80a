import type { ChatCompletionRequest } from '@spool/protocol';
import {
  type ChatResumeOptions,
  type ChatStream,
  type ChatStreamOptions,
  type StreamCodec,
  streamAssembled,
  streamChatCompletion,
} from './chat-stream.js';
import type { HttpError } from './errors.js';
import type { EventStreamOptions, HeadersOption, RetryContext } from './event-stream-types.js';
import { memoizeImport } from './lazy-import.js';
import type { LifecycleSource } from './lifecycle.js';
import type { AssembledMessage } from './messages-assembler.js';
import type { MessagesResumeOptions, MessagesStream, MessagesStreamOptions } from './messages-stream.js';
import {
  type ResponsesStream,
  type ResponsesStreamOptions,
  responseIdOfStream,
  streamResponses,
} from './responses-stream.js';
import type { RetryOptions } from './retry-policy.js';
import type { Scheduler, SchedulerOptions } from './scheduler.js';
import type { BufferDetectionOptions } from './transport-auto-fallback.js';
import type { FetchLike } from './transport-fetch.js';
import type { TransportOption } from './transport-select.js';
import type { XhrConstructor } from './transport-xhr.js';

/** Options of {@link createClient}; each stream can override `retry`, `onRetry`, `idleTimeoutMs`, `headers`. */
export interface ClientOptions {
  /** The API root, e.g. `https://gateway.example/v1` (Spool) or any OpenAI-compatible `/v1`. */
  baseURL: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Extra headers, or a (possibly async) function called before every attempt (fresh tokens). */
  headers?: HeadersOption;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: FetchLike;
  /** The `XMLHttpRequest` class for the XHR transport. @default globalThis.XMLHttpRequest */
  XMLHttpRequest?: XhrConstructor;
  /**
   * `'auto'` uses streaming fetch where the runtime has it (browsers, Node, Deno, Bun), else XHR (React Native),
   * and falls back to `'long-poll'` reads by itself when the network buffers event streams.
   * @default 'auto'
   */
  transport?: TransportOption;
  /**
   * Under `'auto'`: how a buffering network is detected, or `false` never to fall back to long-poll.
   * @default see `BufferDetectionOptions`
   */
  bufferDetection?: BufferDetectionOptions | false;
  /**
   * Retry settings; a number is `maxAttempts`, `false` disables.
   * @default 8 attempts, 500 ms doubling to 30 s, full jitter, 2 min per outage (see normalizeRetryOptions)
   */
  retry?: number | boolean | RetryOptions;
  /** Called before each retry; `false` vetoes it, a number replaces the delay. */
  onRetry?: (context: RetryContext) => boolean | number | undefined | Promise<boolean | number | undefined>;
  /**
   * Ms without a byte before a connection is presumed dead and replaced; `0` disables.
   * @default 45000
   */
  idleTimeoutMs?: number;
  /**
   * Against servers without resume (no `X-Stream-Id`): restart and announce `restarted`, or fail.
   * @default 'restart'
   */
  onNoResume?: 'restart' | 'fail';
  /** On a 401: refresh credentials, then resolve (anything but `false`) to retry once. */
  onUnauthorized?: (error: HttpError) => boolean | undefined | Promise<boolean | undefined>;
  /** Connectivity/visibility source. @default globalLifecycle() */
  lifecycle?: LifecycleSource;
  /** Reconnect at once when the page becomes visible again. @default false */
  reconnectOnVisible?: boolean;
  /** Streams this client runs at once; more wait in FIFO order. @default Infinity */
  maxConcurrent?: number;
  /** Streams this client starts per sliding minute. @default Infinity */
  requestsPerMinute?: number;
}

/** A Spool client: `client.chat.stream(request)`. */
export interface SpoolClient {
  chat: {
    /**
     * Starts a streamed chat completion (`stream: true` is set for you) that survives drops.
     * @example
     * for await (const event of client.chat.stream({ model: 'sim', messages })) {
     *   if (event.type === 'text-delta') render(event.text);
     *   if (event.type === 'restarted') clear();
     * }
     */
    stream(request: ChatCompletionRequest, options?: ChatStreamOptions): ChatStream;
    /**
     * Attaches to a stream already under way or finished (`GET {baseURL}/streams/{id}` with
     * `Last-Event-ID`), with `stream`'s reconnects, watchdog and events, `resumed` first. `text()` is the
     * text after `lastEventId`. A finished stream resumed from its last event (the gateway answers 204)
     * is done at once, with no text. An unknown or expired stream fails with an `HttpError` whose code is
     * `stream_not_found` (404) or `stream_expired` (410). Aborting `signal` stops the generation too.
     * @example
     * const rest = client.chat.resume(saved.streamId, { lastEventId: saved.lastEventId });
     * for await (const event of rest) if (event.type === 'text-delta') render(saved.text + event.text);
     */
    resume(streamId: string, options?: ChatResumeOptions): ChatStream;
  };
  responses: {
    /**
     * Starts a streamed Responses API request (`stream: true` is set for you) that survives drops:
     * a reconnect resumes with `GET /responses/{id}?stream=true&starting_after=N`, exactly after the
     * last event delivered. Events are those of `chat.stream` (`text-delta`, `tool-call-delta`,
     * `usage`, `finish`, status changes), plus each raw Responses event as `{ type: 'event' }`.
     * @example
     * for await (const event of client.responses.stream({ model: 'sim', input: 'Hi' })) {
     *   if (event.type === 'text-delta') render(event.text);
     * }
     */
    stream(
      params: Record<string, unknown> & { model: string },
      options?: ResponsesStreamOptions,
    ): ResponsesStream;
  };
  /** Anthropic's Messages API (`{baseURL}/messages`), on a Spool gateway: the same reconnects, resume, watchdog and stats. */
  messages: {
    /**
     * Starts a streamed Messages request (`stream: true` is set for you) that survives drops. Events
     * are chat's (`text-delta`, `tool-call-delta` for tool_use blocks, `usage`, `finish`); `final()`
     * resolves with the Anthropic message (thinking and other blocks included).
     * @example
     * const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages });
     * for await (const event of stream) if (event.type === 'text-delta') render(event.delta);
     */
    stream(params: Record<string, unknown>, options?: MessagesStreamOptions): MessagesStream;
    /** Attaches to a Messages stream already under way or finished, as `chat.resume` does. */
    resume(streamId: string, options?: MessagesResumeOptions): MessagesStream;
  };
  /** The admission scheduler shared by this client's streams, when limits are set (loaded on first use). */
  readonly scheduler: Scheduler | undefined;
}

/**
 * Creates a client for a Spool gateway or any OpenAI-compatible API.
 * @example
 * const client = createClient({ baseURL: 'http://localhost:8787/v1', apiKey: 'sk-…' });
 * const text = await client.chat.stream({ model: 'sim', messages: [{ role: 'user', content: 'Hi' }] }).text();
 */
export function createClient(options: ClientOptions): SpoolClient {
  if (typeof options?.baseURL !== 'string' || options.baseURL === '') {
    throw new TypeError('createClient needs `baseURL`, e.g. "https://gateway.example/v1".');
  }
  const baseURL = options.baseURL.replace(/\/+$/, '');
  const streamUrl = (streamId: string) => `${baseURL}/streams/${encodeURIComponent(streamId)}`;
  const limited = options.maxConcurrent !== undefined || options.requestsPerMinute !== undefined;
  const scheduler = limited
    ? lazyScheduler({ maxConcurrent: options.maxConcurrent, requestsPerMinute: options.requestsPerMinute })
    : undefined;

  /**
   * The headers of every attempt: the API's (`apiHeaders`), the client's, then the call's, over the
   * SSE defaults; `beforeAttempt` runs first (a stream that loads its codec on demand).
   */
  const headersFor =
    (
      hasBody: boolean,
      callHeaders: HeadersOption | undefined,
      apiHeaders: Record<string, string> = {},
      beforeAttempt?: () => Promise<void>,
    ) =>
    async (): Promise<Record<string, string>> => {
      await beforeAttempt?.();
      const merged: Record<string, string> = { accept: 'text/event-stream' };
      if (hasBody) merged['content-type'] = 'application/json';
      if (options.apiKey) merged.authorization = `Bearer ${options.apiKey}`;
      assignLowercase(merged, apiHeaders);
      assignLowercase(merged, await resolve(options.headers));
      assignLowercase(merged, await resolve(callHeaders));
      return merged;
    };

  /**
   * The engine's options of a stream: the call's over the client's, resumed by `GET /streams/{id}`
   * (chat, Messages; Responses overrides `resumeUrl`).
   */
  const engineFor = (
    headers: EventStreamOptions['headers'],
    streamOptions: Pick<ChatResumeOptions, 'retry' | 'onRetry' | 'idleTimeoutMs' | 'lastEventId'>,
    streamId: string | undefined,
  ): EventStreamOptions => ({
    headers,
    retry: streamOptions.retry ?? options.retry,
    onRetry: streamOptions.onRetry ?? options.onRetry,
    idleTimeoutMs: streamOptions.idleTimeoutMs ?? options.idleTimeoutMs,
    transport: options.transport,
    fetch: options.fetch,
    XMLHttpRequest: options.XMLHttpRequest,
    bufferDetection: options.bufferDetection,
    resumeUrl: streamUrl,
    onNoResume: options.onNoResume,
    onUnauthorized: options.onUnauthorized,
    lifecycle: options.lifecycle,
    reconnectOnVisible: options.reconnectOnVisible,
    scheduler,
    streamId,
    lastEventId: streamOptions.lastEventId,
  });

  const start = (
    url: string,
    body: string | undefined,
    streamOptions: ChatResumeOptions,
    streamId?: string,
  ): ChatStream => {
    const headers = headersFor(body !== undefined, streamOptions.headers);
    return streamChatCompletion(url, body, engineFor(headers, streamOptions, streamId), streamOptions);
  };

  // Anthropic's clients send their API version; a gateway forwards it to Anthropic upstreams.
  const messagesHeaders = { 'anthropic-version': '2023-06-01' };
  const startMessages = (
    url: string,
    body: string | undefined,
    streamOptions: MessagesResumeOptions,
    streamId?: string,
  ): MessagesStream => {
    // The Messages codec is its own chunk, loaded before the first request goes out (the engine
    // awaits the headers of every attempt), so no event can arrive before it is there.
    let codec: StreamCodec<AssembledMessage> | undefined;
    const load = async () => {
      codec ??= (await loadMessagesCodec()).messagesCodec();
    };
    const loaded = () => codec as StreamCodec<AssembledMessage>;
    const lazy: StreamCodec<AssembledMessage> = {
      apply: (data) => loaded().apply(data),
      reset: () => codec?.reset(),
      text: () => codec?.text() ?? '',
      final: () => loaded().final(),
      isTerminal: (message) => codec?.isTerminal?.(message) === true,
    };
    const headers = headersFor(body !== undefined, streamOptions.headers, messagesHeaders, load);
    return streamAssembled(url, body, engineFor(headers, streamOptions, streamId), streamOptions, lazy);
  };

  const startResponses = (params: Record<string, unknown>, streamOptions: ResponsesStreamOptions) => {
    const body = JSON.stringify({ ...params, stream: true });
    const headers = headersFor(true, streamOptions.headers);
    const responseUrl = (streamId: string) =>
      `${baseURL}/responses/${encodeURIComponent(responseIdOfStream(streamId))}`;
    return streamResponses(
      `${baseURL}/responses`,
      body,
      {
        ...engineFor(headers, streamOptions, undefined),
        // Read by long-poll (`auto` behind a buffering network) as any stream: by its Spool id.
        longPollUrl: streamUrl,
        resumeUrl: (streamId, lastEventId) =>
          `${responseUrl(streamId)}?stream=true${lastEventId === undefined ? '' : `&starting_after=${lastEventId}`}`,
        stopRequest: (streamId) => ({ url: `${responseUrl(streamId)}/cancel`, method: 'POST' }),
      },
      streamOptions,
    );
  };

  return {
    scheduler,
    responses: {
      stream: (params, streamOptions = {}) => startResponses(params, streamOptions),
    },
    chat: {
      stream: (request, streamOptions = {}) =>
        start(`${baseURL}/chat/completions`, JSON.stringify({ ...request, stream: true }), streamOptions),
      resume: (streamId, resumeOptions = {}) =>
        start(streamUrl(streamId), undefined, resumeOptions, streamId),
    },
    messages: {
      stream: (params, streamOptions = {}) =>
        startMessages(`${baseURL}/messages`, JSON.stringify({ ...params, stream: true }), streamOptions),
      resume: (streamId, resumeOptions = {}) =>
        startMessages(streamUrl(streamId), undefined, resumeOptions, streamId),
    },
  };
}

/**
 * A {@link Scheduler} whose implementation is imported on the first `acquire`, so clients without
 * limits never load it. Acquires made while it loads keep their order and count as waiting.
 */
const loadMessagesCodec = memoizeImport(() => import('./messages-stream.js'));

function lazyScheduler(options: SchedulerOptions): Scheduler {
  let loaded: Scheduler | undefined;
  const load = memoizeImport(() =>
    import('./scheduler.js').then((module) => (loaded ??= module.createScheduler(options))),
  );
  let pending = 0;
  return {
    async acquire(signal) {
      pending += 1;
      let scheduler: Scheduler;
      try {
        scheduler = await load();
      } finally {
        pending -= 1;
      }
      return scheduler.acquire(signal);
    },
    get active() {
      return loaded?.active ?? 0;
    },
    get waiting() {
      return (loaded?.waiting ?? 0) + pending;
    },
  };
}

async function resolve(headers: HeadersOption | undefined): Promise<Record<string, string>> {
  if (headers === undefined) return {};
  return typeof headers === 'function' ? await headers() : headers;
}

function assignLowercase(target: Record<string, string>, source: Record<string, string>): void {
  for (const [name, value] of Object.entries(source)) target[name.toLowerCase()] = value;
}

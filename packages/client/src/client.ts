import type { ChatCompletionRequest } from '@spool/protocol';
import {
  type ChatResumeOptions,
  type ChatStream,
  type ChatStreamOptions,
  streamChatCompletion,
} from './chat-stream.js';
import type { HttpError } from './errors.js';
import type { EventStreamOptions, HeadersOption, RetryContext } from './event-stream-types.js';
import { memoizeImport } from './lazy-import.js';
import type { LifecycleSource } from './lifecycle.js';
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

  const start = (
    url: string,
    body: string | undefined,
    streamOptions: ChatResumeOptions,
    streamId?: string,
  ): ChatStream => {
    const headers = async () => {
      const merged: Record<string, string> = { accept: 'text/event-stream' };
      if (body !== undefined) merged['content-type'] = 'application/json';
      if (options.apiKey) merged.authorization = `Bearer ${options.apiKey}`;
      assignLowercase(merged, await resolve(options.headers));
      assignLowercase(merged, await resolve(streamOptions.headers));
      return merged;
    };
    const engineOptions: EventStreamOptions = {
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
    };
    return streamChatCompletion(url, body, engineOptions, streamOptions);
  };

  return {
    scheduler,
    chat: {
      stream: (request, streamOptions = {}) =>
        start(`${baseURL}/chat/completions`, JSON.stringify({ ...request, stream: true }), streamOptions),
      resume: (streamId, resumeOptions = {}) =>
        start(streamUrl(streamId), undefined, resumeOptions, streamId),
    },
  };
}

/**
 * A {@link Scheduler} whose implementation is imported on the first `acquire`, so clients without
 * limits never load it. Acquires made while it loads keep their order and count as waiting.
 */
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

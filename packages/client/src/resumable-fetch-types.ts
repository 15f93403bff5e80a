import type { SpoolClientError } from './errors.js';
import type { LifecycleSource } from './lifecycle.js';
import type { RetryOptions } from './retry-policy.js';
import type { Scheduler } from './scheduler.js';

/** The `fetch` that {@link ResumableFetchOptions.fetch} wraps: the global one's signature. */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Options of `resumableFetch`; every default is set in `normalizeResumableFetchOptions`. */
export interface ResumableFetchOptions {
  /** The `fetch` that carries every request. @default globalThis.fetch, looked up per call */
  fetch?: FetchFunction;
  /**
   * Retry settings for reconnects; a number is `maxAttempts`, `false` disables.
   * @default 8 attempts, 500 ms doubling to 30 s, full jitter, 2 min per outage (see normalizeRetryOptions)
   */
  retry?: number | boolean | RetryOptions;
  /**
   * Ms without a byte (heartbeats count) after which a connection is presumed dead and resumed; `0` disables.
   * @default 45000
   */
  idleTimeoutMs?: number;
  /**
   * Whether aborting the SDK's request (its `AbortSignal`, or cancelling the body) also stops the
   * generation with `DELETE` on the stream. Off, the gateway generates on and the stream can be
   * resumed later from `lastStreamId`.
   * @default false
   */
  cancelOnAbort?: boolean;
  /**
   * Which requests may be resumed; others go to `fetch` untouched. Use it to keep the
   * `Idempotency-Key` header off requests to other hosts.
   * @default every streaming request (a JSON body with `"stream": true`)
   */
  match?: (url: URL) => boolean;
  /**
   * Where a stream is resumed (`GET`) and stopped (`DELETE`); `undefined` leaves the request untouched.
   * @default the request URL with its trailing `/chat/completions`, `/responses` or `/messages` replaced by `/streams/{id}`
   */
  resumeUrl?: (requestUrl: string, streamId: string) => string | undefined;
  /** Connectivity source: reconnects wait while offline. @default globalLifecycle() */
  lifecycle?: LifecycleSource;
  /** Admission control: a stream waits for a slot before its request and holds it until its body ends. */
  scheduler?: Scheduler;
  /**
   * Characters one event may take before the body fails with `event_too_large`.
   * @default 16777216
   */
  maxEventLength?: number;
  /** Called before each reconnect's wait. */
  onReconnect?: (info: ReconnectInfo) => void;
  /** Called once per resumed body when it ends: completed, failed or aborted (`error` set). */
  onStreamEnd?: (stats: ResumableStreamStats, error: unknown) => void;
}

/** What one stream went through, readable with `resumableFetch().stats()`. */
export interface ResumableStreamStats {
  /** The server's `X-Stream-Id`. */
  streamId: string;
  /** The `id:` of the last event handed to the SDK: what a later resume passes as `Last-Event-ID`. */
  lastEventId: string | undefined;
  /** Reconnects made (each a `GET /v1/streams/{id}`). */
  reconnects: number;
  /** Backoff waited before them, in total, in ms. */
  delayMs: number;
  /** Bytes handed to the SDK from resumed connections. */
  bytesSpliced: number;
  /** Time without a working connection, in ms. */
  stallMs: number;
  /** Events handed to the SDK. */
  events: number;
}

/** What `onReconnect` learns before a reconnect. */
export interface ReconnectInfo {
  /** The stream being resumed; `undefined` while the first request is re-sent (no answer yet). */
  streamId: string | undefined;
  /** 1 for the first retry of an outage. */
  attempt: number;
  /** The wait before it, in ms. */
  delayMs: number;
  /** Why the connection was given up. */
  reason: SpoolClientError;
  /** The `Last-Event-ID` it will send. */
  lastEventId: string | undefined;
}

/** A `fetch` that resumes Spool streams; pass it to any SDK's `fetch` option. */
export interface ResumableFetch {
  (input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** The stream id of the latest resumable response, to store for a later resume. */
  readonly lastStreamId: string | undefined;
  /** The last event id that stream handed to the SDK. */
  readonly lastEventId: string | undefined;
  /** The latest resumable stream's measurements so far. */
  stats(): ResumableStreamStats | undefined;
}

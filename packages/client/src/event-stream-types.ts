import type { HttpError, SpoolClientError } from './errors.js';
import type { LifecycleSource } from './lifecycle.js';
import type { RetryOptions } from './retry-policy.js';
import type { Scheduler } from './scheduler.js';
import type { StatsRecorder, StreamStats } from './stats.js';
import type { BufferDetectionOptions, FallbackReason } from './transport-auto-fallback.js';
import type { FetchLike } from './transport-fetch.js';
import type { TransportOption } from './transport-select.js';
import type { XhrConstructor } from './transport-xhr.js';

/** One server-sent event as delivered to the caller (never a duplicate, never `[DONE]`). */
export interface EventStreamMessage {
  /** The `id:` field; Spool numbers events 1, 2, 3 … */
  id: string | undefined;
  /** The `event:` field, `undefined` for plain `data:` events. */
  event: string | undefined;
  data: string;
}

/** A change in the connection's state. */
export type StreamStatus =
  | { type: 'connecting' }
  | { type: 'open'; streamId: string | undefined }
  | { type: 'reconnecting'; attempt: number; delayMs: number; reason: SpoolClientError }
  | { type: 'resumed'; fromEventId: number; streamId: string | undefined }
  /**
   * A new generation replaced the one being read (the server cannot resume, a transient mid-stream
   * error such as `generation_lost`, or a retry answered with another `X-Stream-Id`): discard what
   * was shown, the text starts again.
   */
  | { type: 'restarted' }
  /**
   * The network buffers event streams (or was found to, a short while ago): from now on the stream
   * is read by long-poll, the same events arriving in small batches ("slow network mode").
   */
  | { type: 'transport-fallback'; to: 'long-poll'; reason: FallbackReason }
  | { type: 'done' };

/** What `onRetry` learns about a retry about to happen. */
export interface RetryContext {
  /** 1 for the first retry of an outage. */
  attempt: number;
  /** The wait the policy chose. */
  delayMs: number;
  /** Why the last attempt failed. */
  error: SpoolClientError;
  /** Time this outage has lasted so far, offline time excluded. */
  elapsedMs: number;
}

/** Request headers, or a (possibly async) function called before every attempt, e.g. to fetch a fresh token. */
export type HeadersOption =
  | Record<string, string>
  | (() => Record<string, string> | Promise<Record<string, string>>);

/** Options of {@link connectEventStream}. */
export interface EventStreamOptions {
  /**
   * HTTP method of the original request.
   * @default 'POST' when `body` is set, else 'GET'
   */
  method?: string;
  /** Request headers or a function returning them, called before every attempt. */
  headers?: HeadersOption;
  /** Request body, sent again on re-POSTs. */
  body?: string;
  /** Aborting it stops the stream like `cancel()`. */
  signal?: AbortSignal;
  /**
   * Retry settings: a number is `maxAttempts`, `false` disables retrying. See {@link RetryOptions}.
   * @default see normalizeRetryOptions: 8 attempts, 500 ms doubling to 30 s, full jitter, 2 min per outage
   */
  retry?: number | boolean | RetryOptions;
  /** Called before each retry; return `false` to give up or a number to wait that many ms instead. */
  onRetry?: (context: RetryContext) => boolean | number | undefined | Promise<boolean | number | undefined>;
  /**
   * Ms without a single byte (heartbeat comments count) after which the connection is presumed dead and
   * replaced. Spool sends `: ping` every 15 s, so three missed heartbeats trip it. `0` disables.
   * @default 45000
   */
  idleTimeoutMs?: number;
  /**
   * `'auto'` picks streaming fetch when the runtime supports it, else XMLHttpRequest, and falls back
   * to `'long-poll'` reads when the network buffers the stream (see `bufferDetection`).
   * @default 'auto'
   */
  transport?: TransportOption;
  /** The `fetch` to use (implies the fetch transport under `'auto'`). */
  fetch?: FetchLike;
  /** The `XMLHttpRequest` class for the XHR transport. @default globalThis.XMLHttpRequest */
  XMLHttpRequest?: XhrConstructor;
  /**
   * Under `transport: 'auto'`: how a network that buffers event streams is detected (the stream is
   * then read by long-poll and a `transport-fallback` status says so), or `false` never to fall back.
   * @default see `BufferDetectionOptions` (3 s without a body byte, 6 s without headers)
   */
  bufferDetection?: BufferDetectionOptions | false;
  /**
   * Whether to send an `Idempotency-Key` so a re-sent request attaches to the generation under way.
   * @default true for POST
   */
  idempotencyKey?: boolean;
  /**
   * Where a stream named by `X-Stream-Id` is resumed (GET) and stopped (DELETE); `lastEventId` is
   * the last event id delivered as the server numbered it (`undefined` before the first), for URLs
   * that carry the resume point (Responses' `starting_after`).
   * @default the request URL with its trailing `/chat/completions` replaced by `/streams/{id}`
   */
  resumeUrl?: (streamId: string, lastEventId?: number) => string | undefined;
  /**
   * Where a known stream is read by long-poll (`GET …/streams/{id}?after=n`), when `resumeUrl` is
   * another route (Responses' `GET /responses/{id}?stream=true`).
   * @default `resumeUrl(streamId)` when it is a `…/streams/{id}` URL
   */
  longPollUrl?: (streamId: string) => string | undefined;
  /** How a stream is stopped, when not by `DELETE resumeUrl(streamId)` (Responses: `POST …/cancel`). */
  stopRequest?: (streamId: string) => { url: string; method: string } | undefined;
  /**
   * The id the server gives a stream's first event: Spool numbers chat streams 1, 2, 3 …,
   * Responses streams count `sequence_number` from 0.
   * @default 1
   */
  firstEventId?: number;
  /**
   * Whether an event ends the stream as `data: [DONE]` does (it is delivered first): Responses'
   * `response.completed`, `response.incomplete`, `response.failed`.
   */
  isTerminal?: (message: EventStreamMessage) => boolean;
  /**
   * The id of an event that came without an `id:` line, read from its data, so replays are skipped and
   * a resume starts after it (OpenAI's Responses events carry `sequence_number`).
   */
  eventIdOf?: (message: EventStreamMessage) => string | undefined;
  /**
   * Names a stream whose response carried no `X-Stream-Id`, from one of its events, so that a drop
   * resumes by `resumeUrl` instead of restarting (OpenAI's background Response: `response.created`'s
   * `response.id`). `undefined` leaves the stream unnamed.
   */
  streamIdOf?: (message: EventStreamMessage) => string | undefined;
  /**
   * Whether a body that ends without `data: [DONE]` is a drop to recover from rather than the end.
   * @default false, but true once the server sent `X-Stream-Id` (Spool streams never end silently short)
   */
  requireDone?: boolean;
  /**
   * What to do when a stream without `X-Stream-Id` drops after delivering events: start again (announced
   * by a `restarted` status so the caller discards partial output) or fail.
   * @default 'restart'
   */
  onNoResume?: 'restart' | 'fail';
  /** Called on a 401; refresh credentials and resolve (not `false`) to retry once with fresh `headers`. */
  onUnauthorized?: (error: HttpError) => boolean | undefined | Promise<boolean | undefined>;
  /**
   * Connectivity and visibility signals; retries pause while offline and fire at once on `online`.
   * @default globalLifecycle() (navigator.onLine and window events when present)
   */
  lifecycle?: LifecycleSource;
  /**
   * Replace the connection at once when the page becomes visible again (mobile browsers freeze
   * background connections); cheap with Spool since the resume loses nothing.
   * @default false
   */
  reconnectOnVisible?: boolean;
  /** Admission control shared between streams (see `createScheduler`). */
  scheduler?: Scheduler;
  /**
   * Attach to this existing stream instead of sending the request: every attempt is
   * `GET resumeUrl(streamId)` with `Last-Event-ID`, starting after `lastEventId`.
   */
  streamId?: string;
  /** With `streamId`: the last event id already delivered; the stream sends what follows. @default 0 */
  lastEventId?: number;
  /** Recorder to collect stats into, for layers that add token counts. @default a new one */
  stats?: StatsRecorder;
}

/** Callbacks of {@link connectEventStream}. */
export interface EventStreamHandlers {
  /** Each new event, in order; a throw stops the stream with a `CallbackError`. */
  onEvent?: (message: EventStreamMessage) => void;
  /** Connection state changes. */
  onStatus?: (status: StreamStatus) => void;
  /** Comment lines such as `: ping` heartbeats. */
  onComment?: (comment: string) => void;
  /** The final error, once; `done` rejects with it too. */
  onError?: (error: SpoolClientError) => void;
}

/** A running event stream. */
export interface EventStream {
  /**
   * Resolves when the stream completes (`[DONE]`, a clean end where allowed, or a 204 No Content:
   * nothing more to deliver); rejects with a {@link SpoolClientError}.
   */
  readonly done: Promise<void>;
  /** Stops the stream and asks the server to stop generating (`DELETE` on the stream). */
  cancel(): Promise<void>;
  /**
   * Drops the connection and stops without `DELETE`: the server generates on, to be resumed later
   * from `lastEventId`. `done` rejects with an `AbortError` whose code is `detached`.
   */
  detach(): Promise<void>;
  /** The server's stream id (`X-Stream-Id`, else what `streamIdOf` named), once known. */
  readonly streamId: string | undefined;
  /**
   * The highest event id received so far (0 before any; `[DONE]`'s id once it arrives), from the
   * resume bookkeeping: what a later resume passes as `Last-Event-ID`.
   */
  readonly lastEventId: number;
  /** Measurements so far. */
  stats(): StreamStats;
}

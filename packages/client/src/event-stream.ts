import { isErrorBody, normalizeErrorBody, REQUEST_ID_HEADER, STREAM_ID_HEADER } from '@spool/protocol';
import { createParser } from 'eventsource-parser';
import {
  AbortError,
  CallbackError,
  HttpError,
  IdleTimeoutError,
  NetworkError,
  ResumeUnsupportedError,
  SpoolClientError,
  StreamError,
} from './errors.js';
import { globalLifecycle, type LifecycleSource, waitForReconnect } from './lifecycle.js';
import { type PlannedRequest, ResumePlanner } from './resume-planner.js';
import {
  isRetryableStatus,
  isTransientStreamError,
  normalizeRetryOptions,
  parseRetryAfter,
  type RetryOptions,
  retryDelayMs,
} from './retry-policy.js';
import type { Scheduler } from './scheduler.js';
import { StatsRecorder, type StreamStats } from './stats.js';
import type { Transport, TransportResponse } from './transport.js';
import { createFetchTransport, type FetchLike, fetchCanStream } from './transport-fetch.js';
import { createXhrTransport, type XhrConstructor } from './transport-xhr.js';

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
  | { type: 'restarted' }
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

/** Which transport carries the request. */
export type TransportOption = 'auto' | 'fetch' | 'xhr' | Transport;

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
   * `'auto'` picks streaming fetch when the runtime supports it, else XMLHttpRequest.
   * @default 'auto'
   */
  transport?: TransportOption;
  /** The `fetch` to use (implies the fetch transport under `'auto'`). */
  fetch?: FetchLike;
  /** The `XMLHttpRequest` class for the XHR transport. @default globalThis.XMLHttpRequest */
  XMLHttpRequest?: XhrConstructor;
  /**
   * Whether to send an `Idempotency-Key` so a re-sent request attaches to the generation under way.
   * @default true for POST
   */
  idempotencyKey?: boolean;
  /**
   * Where a stream named by `X-Stream-Id` is resumed (GET) and stopped (DELETE).
   * @default the request URL with its trailing `/chat/completions` replaced by `/streams/{id}`
   */
  resumeUrl?: (streamId: string) => string | undefined;
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
  /** Resolves when the stream completes; rejects with a {@link SpoolClientError}. */
  readonly done: Promise<void>;
  /** Stops the stream and asks the server to stop generating (`DELETE` on the stream). */
  cancel(): Promise<void>;
  /** The server's stream id, once known. */
  readonly streamId: string | undefined;
  /** The last event id delivered. */
  readonly lastEventId: number;
  /** Measurements so far. */
  stats(): StreamStats;
}

const ERROR_BODY_LIMIT_CHARS = 64 * 1024;

/** Retryable, never counted: the page became visible and the caller asked for a fresh connection. */
class VisibilityReconnect extends NetworkError {
  constructor() {
    super('Reconnecting because the page became visible.', { code: 'visibility_reconnect' });
  }
}

/**
 * Connects to any SSE endpoint (POST, headers, body) and keeps it alive: backoff retries, `Last-Event-ID`
 * resume, idle watchdog, offline pause. What people use fetch-event-source for, plus Spool's resume.
 * @example
 * const stream = connectEventStream('https://gw/v1/chat/completions', { body: JSON.stringify(request),
 *   headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } },
 *   { onEvent: (message) => console.log(message.data) });
 * await stream.done;
 */
export function connectEventStream(
  url: string,
  options: EventStreamOptions = {},
  handlers: EventStreamHandlers = {},
): EventStream {
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
  const retryOptions = normalizeRetryOptions(options.retry);
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  const lifecycle = options.lifecycle ?? globalLifecycle();
  const transport = pickTransport(options);
  const resumeUrl = options.resumeUrl ?? ((streamId: string) => defaultResumeUrl(url, streamId));
  const stats = options.stats ?? new StatsRecorder();
  const planner = new ResumePlanner({
    url,
    method,
    body: options.body,
    resumeUrl,
    idempotency: options.idempotencyKey ?? method === 'POST',
    generateKey: () => globalThis.crypto.randomUUID(),
  });
  const controller = new AbortController();
  const outerSignal = controller.signal;
  let requireDone = options.requireDone ?? false;
  let serverRetryMs: number | undefined;

  const emitStatus = (status: StreamStatus) => {
    try {
      handlers.onStatus?.(status);
    } catch (error) {
      throw new CallbackError(error);
    }
  };

  const resolveHeaders = async (): Promise<Record<string, string>> => {
    if (typeof options.headers !== 'function') return { ...options.headers };
    try {
      return { ...(await options.headers()) };
    } catch (error) {
      throw new CallbackError(error);
    }
  };

  let deletion: Promise<void> | undefined;
  const sendDelete = (): Promise<void> => {
    const streamId = planner.streamId;
    const deleteUrl = streamId === undefined ? undefined : resumeUrl(streamId);
    if (deleteUrl === undefined) return Promise.resolve();
    deletion ??= (async () => {
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new AbortError()), 10_000);
      try {
        const response = await transport({
          url: deleteUrl,
          method: 'DELETE',
          headers: await resolveHeaders(),
          body: undefined,
          signal: timeout.signal,
        });
        await response.read(() => undefined);
      } catch {
        // Best effort: the gateway's grace period ends an orphaned generation anyway.
      } finally {
        clearTimeout(timer);
      }
    })();
    return deletion;
  };

  const onUserAbort = () => {
    controller.abort(new AbortError(options.signal?.reason));
    void sendDelete();
  };
  if (options.signal?.aborted) onUserAbort();
  else options.signal?.addEventListener('abort', onUserAbort, { once: true });

  /** Reads one response body; resolves `true` at `[DONE]`, `false` when the body just ended. */
  const readEvents = async (response: TransportResponse, touch: () => void): Promise<boolean> => {
    let finished = false;
    let stop: SpoolClientError | undefined;
    const requestId = response.headers.get(REQUEST_ID_HEADER) ?? undefined;
    const parser = createParser({
      onRetry: (delayMs) => {
        serverRetryMs = delayMs;
      },
      onComment: (comment) => {
        try {
          handlers.onComment?.(comment);
        } catch (error) {
          stop ??= new CallbackError(error);
        }
      },
      onEvent: (message) => {
        if (finished || stop) return;
        if (!planner.accept(message.id)) return;
        const errorEvent = asStreamError(message, requestId);
        if (errorEvent) {
          stop = errorEvent;
          return;
        }
        if (message.data === '[DONE]') {
          finished = true;
          return;
        }
        stats.addEvent();
        try {
          handlers.onEvent?.({ id: message.id, event: message.event, data: message.data });
        } catch (error) {
          stop = error instanceof SpoolClientError ? error : new CallbackError(error);
        }
      },
    });
    await response.read((text, byteLength) => {
      touch();
      stats.addBytes(byteLength);
      parser.feed(text);
      return finished || stop !== undefined ? false : undefined;
    });
    if (stop) throw stop;
    return finished;
  };

  const attemptOnce = async (planned: PlannedRequest, signal: AbortSignal, touch: () => void) => {
    const response = await transport({
      url: planned.url,
      method: planned.method,
      headers: planned.headers,
      body: planned.body,
      signal,
    });
    touch();
    if (response.status < 200 || response.status > 299) throw await toHttpError(response, planned);
    const contentType = response.headers.get('content-type');
    if (contentType !== null && !contentType.includes('text/event-stream')) {
      throw new HttpError(
        `${planned.method} ${planned.url} answered ${contentType}, not text/event-stream. ` +
          'Set `stream: true` in the request body and check that the URL is a streaming endpoint.',
        { code: 'not_event_stream', status: response.status, retryable: false },
      );
    }
    const streamId = response.headers.get(STREAM_ID_HEADER);
    planner.onResponse(streamId);
    if (streamId) requireDone = options.requireDone ?? true;
    return response;
  };

  const run = async (): Promise<void> => {
    const release = await options.scheduler?.acquire(outerSignal);
    let currentAttempt: AbortController | undefined;
    const unsubscribe = lifecycle.subscribe((event) => {
      if (event === 'visible' && options.reconnectOnVisible) currentAttempt?.abort(new VisibilityReconnect());
    });
    try {
      emitStatus({ type: 'connecting' });
      let attempt = 0;
      let outageStartedAt: number | undefined;
      let offlineMs = 0;
      let opened = false;
      let unauthorizedRetried = false;
      for (;;) {
        if (!lifecycle.isOnline()) await wait(0);
        const planned = planner.plan(await resolveHeaders());
        const attemptController = new AbortController();
        currentAttempt = attemptController;
        const abortAttempt = () => attemptController.abort(outerSignal.reason);
        outerSignal.addEventListener('abort', abortAttempt, { once: true });
        let idleTimer: ReturnType<typeof setTimeout> | undefined;
        const touch = () => {
          clearTimeout(idleTimer);
          if (idleTimeoutMs > 0) {
            idleTimer = setTimeout(
              () => attemptController.abort(new IdleTimeoutError(idleTimeoutMs)),
              idleTimeoutMs,
            );
          }
        };
        const eventsBefore = stats.snapshot().events;
        try {
          touch();
          const response = await attemptOnce(planned, attemptController.signal, touch);
          stats.connected();
          unauthorizedRetried = false;
          if (!opened) emitStatus({ type: 'open', streamId: planner.streamId });
          else if (planned.kind === 'restart') emitStatus({ type: 'restarted' });
          else emitStatus({ type: 'resumed', fromEventId: planned.fromEventId, streamId: planner.streamId });
          opened = true;
          const finished = await readEvents(response, touch);
          if (!finished && requireDone) {
            throw new NetworkError(`The stream from ${planned.url} ended before \`data: [DONE]\`.`, {
              code: 'premature_close',
            });
          }
          emitStatus({ type: 'done' });
          return;
        } catch (raw) {
          if (outerSignal.aborted) throw new AbortError(outerSignal.reason);
          const error = toClientError(raw, attemptController.signal, planned);
          if (stats.snapshot().events > eventsBefore) {
            attempt = 0;
            outageStartedAt = undefined;
            offlineMs = 0;
          }
          if (error instanceof VisibilityReconnect) continue;
          if (
            error instanceof HttpError &&
            error.status === 401 &&
            options.onUnauthorized &&
            !unauthorizedRetried
          ) {
            unauthorizedRetried = true;
            let verdict: boolean | undefined;
            try {
              verdict = await options.onUnauthorized(error);
            } catch (callbackError) {
              throw new CallbackError(callbackError);
            }
            if (verdict !== false) continue;
          }
          if (!error.retryable) throw error;
          if (error instanceof StreamError) planner.restart();
          else if (planner.onDrop(options.onNoResume ?? 'restart') === 'fail')
            throw new ResumeUnsupportedError(error);
          attempt += 1;
          if (attempt > retryOptions.maxAttempts) throw error;
          outageStartedAt ??= Date.now();
          const elapsedMs = Date.now() - outageStartedAt - offlineMs;
          let delayMs = retryDelayMs(
            attempt,
            retryOptions,
            { retryAfterMs: error instanceof HttpError ? error.retryAfterMs : undefined, serverRetryMs },
            Math.random,
          );
          if (elapsedMs + delayMs > retryOptions.maxElapsedMs) throw error;
          stats.disconnected();
          if (options.onRetry) {
            let verdict: boolean | number | undefined;
            try {
              verdict = await options.onRetry({ attempt, delayMs, error, elapsedMs });
            } catch (callbackError) {
              throw new CallbackError(callbackError);
            }
            if (verdict === false) throw error;
            if (typeof verdict === 'number') delayMs = Math.max(0, verdict);
          }
          emitStatus({ type: 'reconnecting', attempt, delayMs, reason: error });
          stats.reconnecting();
          offlineMs += await wait(delayMs);
        } finally {
          clearTimeout(idleTimer);
          outerSignal.removeEventListener('abort', abortAttempt);
          currentAttempt = undefined;
        }
      }
    } finally {
      unsubscribe();
      release?.();
      options.signal?.removeEventListener('abort', onUserAbort);
    }
  };

  /** Waits `delayMs` (longer while offline); resolves with the time spent offline. */
  const wait = async (delayMs: number): Promise<number> => {
    let offlineMs = 0;
    try {
      await waitForReconnect({
        delayMs,
        signal: outerSignal,
        lifecycle,
        wakeOnVisible: true,
        onOfflineTime: (milliseconds) => {
          offlineMs = milliseconds;
        },
      });
    } catch {
      throw new AbortError(outerSignal.reason);
    }
    return offlineMs;
  };

  const done = run().catch((raw: unknown) => {
    const error = raw instanceof SpoolClientError ? raw : new NetworkError(String(raw), { cause: raw });
    try {
      handlers.onError?.(error);
    } catch {
      // The stream already failed; a throwing error handler must not mask why.
    }
    throw error;
  });
  done.catch(() => {});

  return {
    done,
    async cancel() {
      if (!outerSignal.aborted) controller.abort(new AbortError());
      await sendDelete();
      await done.catch(() => {});
    },
    get streamId() {
      return planner.streamId;
    },
    get lastEventId() {
      return planner.lastEventId;
    },
    stats: () => stats.snapshot(),
  };
}

function pickTransport(options: EventStreamOptions): Transport {
  const choice = options.transport ?? 'auto';
  if (typeof choice === 'function') return choice;
  if (choice === 'fetch') return createFetchTransport(options.fetch);
  if (choice === 'xhr') return createXhrTransport(options.XMLHttpRequest);
  if (options.fetch || fetchCanStream()) return createFetchTransport(options.fetch);
  if (options.XMLHttpRequest || 'XMLHttpRequest' in globalThis)
    return createXhrTransport(options.XMLHttpRequest);
  return createFetchTransport();
}

/** `…/v1/chat/completions?x` → `…/v1/streams/{id}`; other URLs have no known resume endpoint. */
export function defaultResumeUrl(url: string, streamId: string): string | undefined {
  const queryStart = url.search(/[?#]/);
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  const suffix = '/chat/completions';
  if (!path.endsWith(suffix)) return undefined;
  return `${path.slice(0, -suffix.length)}/streams/${encodeURIComponent(streamId)}`;
}

function asStreamError(message: { event?: string | undefined; data: string }, requestId?: string) {
  const isErrorEvent = message.event === 'error';
  if (!isErrorEvent && !message.data.includes('"error"')) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(message.data);
  } catch {
    body = message.data;
  }
  if (!isErrorEvent && !isErrorBody(body)) return undefined;
  const normalized = normalizeErrorBody(500, body, message.data || 'The server sent an error event.');
  const retryable = isTransientStreamError(normalized);
  return new StreamError(
    `The server reported an error mid-stream: ${normalized.error.message}` +
      (retryable ? ' (transient; the request is started again).' : ''),
    { code: normalized.error.code ?? 'stream_error', retryable, body, requestId },
  );
}

async function toHttpError(response: TransportResponse, planned: PlannedRequest): Promise<HttpError> {
  let text = '';
  try {
    await response.read((chunk) => {
      text += chunk;
      return text.length > ERROR_BODY_LIMIT_CHARS ? false : undefined;
    });
  } catch {
    // The status is what matters; a body cut short only loses the message.
  }
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  const status = response.status;
  const body = normalizeErrorBody(status, parsed, `HTTP ${status}`);
  return new HttpError(
    `${planned.method} ${planned.url} failed with HTTP ${status}: ${body.error.message}. ${hintForStatus(status, planned)}`,
    {
      code: body.error.code ?? `http_${status}`,
      status,
      retryable: isRetryableStatus(status),
      retryAfterMs: parseRetryAfter(response.headers, Date.now()),
      requestId: response.headers.get(REQUEST_ID_HEADER) ?? undefined,
      body: parsed,
    },
  );
}

function hintForStatus(status: number, planned: PlannedRequest): string {
  if (status === 401)
    return 'Set `apiKey` or pass `headers.Authorization`; refresh expiring tokens in `onUnauthorized`.';
  if (status === 403) return 'The API key is not allowed this model or stream.';
  if ((status === 404 || status === 410) && planned.kind === 'resume')
    return 'The stream expired or is unknown to this gateway; start a new request.';
  if (status === 404) return 'Check `baseURL` (it usually ends in /v1) and the model name.';
  if (status === 422) return 'A retry reused an Idempotency-Key with a different body; send a new request.';
  if (status === 429) return 'Rate limited; set `maxConcurrent` or `requestsPerMinute` on the client.';
  if (status >= 500) return 'The server failed; retries will follow if allowed.';
  return 'Fix the request; retrying will not help.';
}

function toClientError(raw: unknown, attemptSignal: AbortSignal, planned: PlannedRequest): SpoolClientError {
  if (attemptSignal.aborted && attemptSignal.reason instanceof SpoolClientError) return attemptSignal.reason;
  if (raw instanceof SpoolClientError) return raw;
  const detail = raw instanceof Error ? raw.message : String(raw);
  return new NetworkError(
    `Connection to ${planned.url} failed (${detail}). Check the URL and the network; it is retried meanwhile.`,
    { cause: raw },
  );
}

import { REQUEST_ID_HEADER, STREAM_ID_HEADER } from '@spool/protocol';
import { createParser } from 'eventsource-parser';
import { isErrorEvent, loadErrorBodies, toClientError } from './error-mapping.js';
import {
  AbortError,
  CallbackError,
  HttpError,
  IdleTimeoutError,
  NetworkError,
  SpoolClientError,
} from './errors.js';
import type {
  EventStream,
  EventStreamHandlers,
  EventStreamMessage,
  EventStreamOptions,
  StreamStatus,
} from './event-stream-types.js';
import { newIdempotencyKey } from './idempotency-key.js';
import { globalLifecycle } from './lifecycle.js';
import { createOutage, VisibilityReconnect } from './outage.js';
import { createReconnectBackoff, type ReconnectBackoff } from './reconnect-backoff.js';
import { type PlannedRequest, ResumePlanner } from './resume-planner.js';
import { normalizeRetryOptions } from './retry-policy.js';
import { StatsRecorder } from './stats.js';
import type { TransportResponse } from './transport.js';
import type { FallbackReason } from './transport-auto-fallback.js';
import { selectTransport } from './transport-select.js';

/** Runs one of the caller's callbacks; a throw stops the stream as a {@link CallbackError}. */
function guard<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw new CallbackError(error);
  }
}

/** {@link guard} for callbacks that may return a promise. */
async function guardAsync<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new CallbackError(error);
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
  const transport = selectTransport(options);
  const resumeUrl = options.resumeUrl ?? ((streamId: string) => defaultResumeUrl(url, streamId));
  const stats = options.stats ?? new StatsRecorder();
  const planner = new ResumePlanner({
    url,
    method,
    body: options.body,
    resumeUrl,
    idempotency: options.idempotencyKey ?? method === 'POST',
    generateKey: () => newIdempotencyKey(),
    streamId: options.streamId,
    lastEventId: options.lastEventId,
    firstEventId: options.firstEventId,
  });
  const controller = new AbortController();
  const outerSignal = controller.signal;
  let requireDone = options.requireDone ?? false;
  let serverRetryMs: number | undefined;

  const emitStatus = (status: StreamStatus) => guard(() => handlers.onStatus?.(status));
  const resolveHeaders = async (): Promise<Record<string, string>> => {
    const { headers } = options;
    return { ...(typeof headers === 'function' ? await guardAsync(headers) : headers) };
  };

  let deletion: Promise<void> | undefined;
  const sendDelete = (): Promise<void> => {
    const streamId = planner.streamId;
    const stop =
      streamId === undefined
        ? undefined
        : (options.stopRequest?.(streamId) ?? { url: resumeUrl(streamId), method: 'DELETE' });
    const deleteUrl = stop?.url;
    if (stop === undefined || deleteUrl === undefined) return Promise.resolve();
    deletion ??= (async () => {
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new AbortError()), 10_000);
      try {
        const response = await transport({
          url: deleteUrl,
          method: stop.method,
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
    let errorEvent: { data: string } | undefined;
    const requestId = response.headers.get(REQUEST_ID_HEADER) ?? undefined;
    const parser = createParser({
      onRetry: (delayMs) => {
        serverRetryMs = delayMs;
      },
      onComment: (comment) => {
        try {
          guard(() => handlers.onComment?.(comment));
        } catch (error) {
          stop ??= error as CallbackError;
        }
      },
      onEvent: (message) => {
        if (finished || stop || errorEvent) return;
        const delivered: EventStreamMessage = { id: message.id, event: message.event, data: message.data };
        let eventId = message.id;
        let named: string | undefined;
        try {
          eventId ??= options.eventIdOf?.(delivered);
          if (planner.streamId === undefined) named = options.streamIdOf?.(delivered);
        } catch (error) {
          stop = new CallbackError(error);
          return;
        }
        if (!planner.accept(eventId)) return;
        if (named !== undefined) planner.nameStream(named);
        if (isErrorEvent(message)) {
          errorEvent = message;
          return;
        }
        if (message.data === '[DONE]') {
          finished = true;
          return;
        }
        stats.addEvent();
        try {
          handlers.onEvent?.(delivered);
        } catch (error) {
          // A handler may stop the stream with an error of ours (chat-stream's invalid_chunk).
          stop = error instanceof SpoolClientError ? error : new CallbackError(error);
        }
        if (options.isTerminal?.(delivered)) finished = true;
      },
    });
    await response.read((text, byteLength) => {
      touch();
      stats.addBytes(byteLength);
      parser.feed(text);
      return finished || stop || errorEvent ? false : undefined;
    });
    if (stop) throw stop;
    if (errorEvent) throw (await loadErrorBodies()).toStreamError(errorEvent, requestId);
    return finished;
  };

  /** Announces a switch to long-poll reads once per stream (later attempts start there, remembered). */
  const onFallback = ({ reason }: { reason: FallbackReason }) => {
    if (stats.snapshot().longPoll) return;
    stats.fellBackToLongPoll();
    emitStatus({ type: 'transport-fallback', to: 'long-poll', reason });
  };

  const attemptOnce = async (planned: PlannedRequest, signal: AbortSignal, touch: () => void) => {
    const known = planner.streamId;
    const longPollUrl =
      planned.kind === 'resume' && known !== undefined ? options.longPollUrl?.(known) : undefined;
    const response = await transport({ ...planned, signal, onFallback, idleTimeoutMs, longPollUrl });
    touch();
    if (response.status < 200 || response.status > 299)
      throw await (await loadErrorBodies()).toHttpError(response, planned);
    const contentType = response.headers.get('content-type');
    if (!isNoContent(response) && contentType !== null && !contentType.includes('text/event-stream')) {
      throw new HttpError(
        `${planned.url} answered ${contentType}, not text/event-stream; set \`stream: true\` and check the URL.`,
        { code: 'not_event_stream', status: response.status, retryable: false },
      );
    }
    if (response.headers.get(STREAM_ID_HEADER)) requireDone = options.requireDone ?? true;
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
      const backoff = createReconnectBackoff(retryOptions, lifecycle);
      const outage = createOutage({ planner, backoff, stats, options });
      for (;;) {
        if (!lifecycle.isOnline()) await wait(backoff, 0);
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
        try {
          touch();
          const response = await attemptOnce(planned, attemptController.signal, touch);
          emitStatus(outage.connected(planned, response.headers.get(STREAM_ID_HEADER)));
          const finished = isNoContent(response) || (await readEvents(response, touch));
          if (!finished && requireDone) {
            throw new NetworkError(`The stream from ${planned.url} ended before \`data: [DONE]\`.`, {
              code: 'premature_close',
            });
          }
          emitStatus({ type: 'done' });
          return;
        } catch (raw) {
          if (outerSignal.aborted) throw abortErrorOf(outerSignal);
          const error = toClientError(raw, attemptController.signal, planned);
          const action = outage.failed(error, serverRetryMs);
          if (action.type === 'authorize') {
            const { onUnauthorized } = options;
            if ((await guardAsync(() => onUnauthorized?.(action.error))) !== false) continue;
            throw error;
          }
          if (action.type === 'fail') throw action.error;
          if (action.type === 'reconnect') continue;
          const { attempt, elapsedMs } = action;
          let delayMs = action.delayMs;
          const { onRetry } = options;
          if (onRetry) {
            const verdict = await guardAsync(() => onRetry({ attempt, delayMs, error, elapsedMs }));
            if (verdict === false) throw error;
            if (typeof verdict === 'number') delayMs = Math.max(0, verdict);
          }
          emitStatus({ type: 'reconnecting', attempt, delayMs, reason: error });
          stats.reconnecting();
          await wait(backoff, delayMs);
        } finally {
          clearTimeout(idleTimer);
          outerSignal.removeEventListener('abort', abortAttempt);
          currentAttempt = undefined;
        }
      }
    } finally {
      stats.finished();
      unsubscribe();
      release?.();
      options.signal?.removeEventListener('abort', onUserAbort);
    }
  };

  /** Waits `delayMs` (longer while offline); rejects with the stream's `AbortError` when it stops. */
  const wait = async (backoff: ReconnectBackoff, delayMs: number): Promise<void> => {
    try {
      await backoff.wait(delayMs, outerSignal);
    } catch {
      throw abortErrorOf(outerSignal);
    }
  };

  let settled = false;
  const done = run()
    .finally(() => {
      settled = true;
    })
    .catch((raw: unknown) => {
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
      if (!settled && !outerSignal.aborted) controller.abort(new AbortError());
      // A stream that finished on its own has nothing left to stop.
      if (outerSignal.aborted) await sendDelete();
      await done.catch(() => {});
    },
    detach() {
      if (!settled && !outerSignal.aborted) controller.abort(new AbortError(undefined, 'detached'));
      return done.catch(() => {});
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

/** `…/v1/chat/completions?x` → `…/v1/streams/{id}`; other URLs have no known resume endpoint. */
function defaultResumeUrl(url: string, streamId: string): string | undefined {
  const queryStart = url.search(/[?#]/);
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  const suffix = '/chat/completions';
  if (!path.endsWith(suffix)) return undefined;
  return `${path.slice(0, -suffix.length)}/streams/${encodeURIComponent(streamId)}`;
}

/**
 * Whether the server said there is nothing (more) to deliver: WHATWG HTML §9.2.3 makes a 204 stop
 * EventSource reconnecting, and Spool answers it to a resume from the last event of a finished stream.
 */
function isNoContent(response: TransportResponse): boolean {
  return response.status === 204;
}

function abortErrorOf(signal: AbortSignal): AbortError {
  return signal.reason instanceof AbortError ? signal.reason : new AbortError(signal.reason);
}

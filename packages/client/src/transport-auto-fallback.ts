import { IDEMPOTENCY_KEY_HEADER, STREAM_ID_HEADER } from '@spool/protocol';
import { type BufferedVerdicts, sharedBufferedVerdicts } from './buffered-verdict.js';
import type { Transport, TransportResponse } from './transport.js';
import { isLongPollable } from './transport-long-pollable.js';

/** Why a stream is read by long-poll rather than streamed. */
export type FallbackReason =
  /** Headers arrived but no body byte within `firstByteTimeoutMs` (the gateway sends `retry:` at once). */
  | 'body-buffered'
  /** Not even the headers arrived within `headersTimeoutMs`: found again by its Idempotency-Key. */
  | 'headers-buffered'
  /** This origin was found to buffer streams a short while ago (see `BufferedVerdicts`). */
  | 'remembered';

/** Options of the buffering detection under `transport: 'auto'`. */
export interface BufferDetectionOptions {
  /**
   * Ms with the headers in and no body byte before the body is presumed held by a buffer: Spool
   * sends `retry:` with its headers, so silence means a buffer, not a slow model.
   * @default 3000
   */
  firstByteTimeoutMs?: number;
  /**
   * Ms without response headers before the whole response is presumed held; only for a POST with
   * an `Idempotency-Key`, which finds the stream again without a second generation.
   * @default 6000
   */
  headersTimeoutMs?: number;
  /** How long an origin found buffering starts in long-poll. @default 30 min (`BUFFERED_VERDICT_TTL_MS`) */
  rememberMs?: number;
  /** Where verdicts are kept. @default the realm's shared verdicts (memory + localStorage) */
  verdicts?: BufferedVerdicts;
}

/** Raised inside the fallback to stop the streamed attempt; never reaches the caller. */
class BufferedStream extends Error {
  constructor() {
    super('the response is being buffered on the way');
    this.name = 'BufferedStream';
  }
}

function headerOf(headers: Record<string, string>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** Runs `callback` after the I/O that is ready now has been handled (Node's `setImmediate`). */
const afterPendingIo: (callback: () => void) => void =
  typeof setImmediate === 'function' ? setImmediate : (callback) => setTimeout(callback, 0);

/**
 * Calls `onSilence` once `ms` have passed without `cancel` (the returned function) being called.
 * The verdict waits one more turn of the event loop: on a busy machine a due timer runs before the
 * sockets are read (Node runs its timers phase before its poll phase), so bytes that arrived in
 * time would otherwise lose to the timer and a slow machine would be taken for a buffering network.
 */
function afterSilence(ms: number, onSilence: () => void): () => void {
  let cancelled = false;
  const timer = setTimeout(
    () =>
      afterPendingIo(() => {
        if (!cancelled) onSilence();
      }),
    ms,
  );
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}

/**
 * Wraps a streaming transport so that a stream a buffering network holds back is read by
 * long-poll instead: the same events, delivered as they are generated. The switch is announced
 * through `request.onFallback`, and the origin is remembered so later requests start in long-poll.
 */
export function withLongPollFallback(
  streaming: Transport,
  longPoll: Transport,
  options: BufferDetectionOptions = {},
): Transport {
  const firstByteTimeoutMs = options.firstByteTimeoutMs ?? 3000;
  const headersTimeoutMs = options.headersTimeoutMs ?? 6000;
  const verdicts = options.verdicts ?? sharedBufferedVerdicts;
  return async (request) => {
    if (!isLongPollable(request)) return streaming(request);
    const origin = new URL(request.url).origin;
    const fallBack = (reason: FallbackReason): Promise<TransportResponse> => {
      // The caller gave up first (its idle watchdog, a Stop): that is no verdict on the network.
      if (request.signal.aborted) return Promise.reject(request.signal.reason);
      if (reason !== 'remembered') verdicts.remember(origin, options.rememberMs);
      try {
        request.onFallback?.({ reason });
      } catch {
        // The engine's listener reports its own failures; the read goes on.
      }
      return longPoll(request);
    };
    if (verdicts.isBuffered(origin)) return fallBack('remembered');

    const attempt = new AbortController();
    const forwardAbort = () => attempt.abort(request.signal.reason);
    if (request.signal.aborted) forwardAbort();
    else request.signal.addEventListener('abort', forwardAbort, { once: true });
    const release = () => request.signal.removeEventListener('abort', forwardAbort);
    const pending = streaming({ ...request, signal: attempt.signal });
    const canFindAgain =
      request.method !== 'POST' || headerOf(request.headers, IDEMPOTENCY_KEY_HEADER) !== undefined;
    let response: TransportResponse | undefined;
    if (canFindAgain && headersTimeoutMs > 0) {
      let cancelSilence = () => {};
      const timedOut = new Promise<undefined>((resolve) => {
        cancelSilence = afterSilence(headersTimeoutMs, () => resolve(undefined));
      });
      try {
        response = await Promise.race([pending, timedOut]);
      } catch (error) {
        release();
        throw error;
      } finally {
        cancelSilence();
      }
      if (response === undefined) {
        attempt.abort(new BufferedStream());
        pending.catch(() => {});
        release();
        return fallBack('headers-buffered');
      }
    } else {
      try {
        response = await pending;
      } catch (error) {
        release();
        throw error;
      }
    }
    const isSpoolStream =
      response.status === 200 &&
      response.headers.get(STREAM_ID_HEADER) !== null &&
      (response.headers.get('content-type') ?? '').includes('text/event-stream');
    const streamed = response;
    if (!isSpoolStream || !canFindAgain || firstByteTimeoutMs <= 0) {
      // The caller still reads this body (an error answer's JSON, say), so its abort must keep
      // reaching the attempt until the read ends: released earlier, a body that went quiet could
      // not be abandoned by the idle watchdog and the stream hung (issue 19's chaos-test timeout).
      return {
        status: streamed.status,
        headers: streamed.headers,
        async read(onChunk) {
          try {
            await streamed.read(onChunk);
          } finally {
            release();
          }
        },
      };
    }
    return {
      status: streamed.status,
      headers: streamed.headers,
      async read(onChunk) {
        let received = false;
        let buffered = false;
        const cancelSilence = afterSilence(firstByteTimeoutMs, () => {
          // A loop that was blocked runs an earlier watchdog's abort first: then nothing is buffered.
          if (request.signal.aborted) return;
          buffered = true;
          attempt.abort(new BufferedStream());
        });
        try {
          await streamed.read((text, byteLength) => {
            if (!received && (byteLength > 0 || text !== '')) {
              received = true;
              cancelSilence();
            }
            return onChunk(text, byteLength);
          });
        } catch (error) {
          if (!buffered) throw error;
        } finally {
          cancelSilence();
          release();
        }
        if (!buffered) return;
        // Nothing reached the engine: the same request again, by long-poll, reads the same stream
        // (a POST attaches by its Idempotency-Key) from the same point.
        const polled = await fallBack('body-buffered');
        if (polled.status === 204) return;
        if (polled.status !== 200) throw new Error(`the long-poll read answered ${polled.status}`);
        await polled.read(onChunk);
      },
    };
  };
}

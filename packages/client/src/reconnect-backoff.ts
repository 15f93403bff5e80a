import { HttpError, type SpoolClientError } from './errors.js';
import { type LifecycleSource, waitForReconnect } from './lifecycle.js';
import { type NormalizedRetryOptions, retryDelayMs } from './retry-policy.js';

/** The retry {@link ReconnectBackoff.next} decided on. */
export interface BackoffStep {
  /** 1 for the first retry of an outage. */
  attempt: number;
  /** The wait the retry policy chose. */
  delayMs: number;
  /** Time this outage has lasted so far, offline time excluded. */
  elapsedMs: number;
}

/**
 * One outage's retry budget over the retry policy (`retryDelayMs`, `maxAttempts`, `maxElapsedMs`) and
 * the lifecycle's offline pause: the bookkeeping every reconnecting shell shares (`connectEventStream`,
 * `resumableFetch`). Made by {@link createReconnectBackoff}.
 */
export interface ReconnectBackoff {
  /** The connection delivered something: the next failure starts a new outage. */
  reset(): void;
  /**
   * Counts a failure and picks the wait before the next attempt (`Retry-After` honoured, raised to the
   * server's `retry:`); `undefined` when the outage is out of attempts or time. `now` is the time of
   * the failure (epoch ms), given by callers that keep their own clock.
   */
  next(error: SpoolClientError, serverRetryMs: number | undefined, now?: number): BackoffStep | undefined;
  /**
   * Waits `delayMs`, longer while offline (an `online` or `visible` event ends it early), and leaves the
   * offline time out of the outage's elapsed time. Rejects with the signal's reason when it aborts.
   */
  wait(delayMs: number, signal: AbortSignal): Promise<void>;
}

/**
 * A {@link ReconnectBackoff} for one stream. (A closure rather than a class: private fields cost the
 * browser bundle a helper call per access, see bench/client-size.)
 */
export function createReconnectBackoff(
  options: NormalizedRetryOptions,
  lifecycle: LifecycleSource,
  random: () => number = Math.random,
): ReconnectBackoff {
  let attempt = 0;
  let outageStartedAt: number | undefined;
  let offlineMs = 0;
  return {
    reset() {
      attempt = 0;
      outageStartedAt = undefined;
      offlineMs = 0;
    },
    next(error, serverRetryMs, now = Date.now()) {
      attempt += 1;
      if (attempt > options.maxAttempts) return undefined;
      outageStartedAt ??= now;
      const elapsedMs = now - outageStartedAt - offlineMs;
      const retryAfterMs = error instanceof HttpError ? error.retryAfterMs : undefined;
      const delayMs = retryDelayMs(attempt, options, { retryAfterMs, serverRetryMs }, random);
      if (elapsedMs + delayMs > options.maxElapsedMs) return undefined;
      return { attempt, delayMs, elapsedMs };
    },
    async wait(delayMs, signal) {
      await waitForReconnect({
        delayMs,
        signal,
        lifecycle,
        wakeOnVisible: true,
        onOfflineTime: (ms) => {
          offlineMs += ms;
        },
      });
    },
  };
}

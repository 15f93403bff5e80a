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
 * `resumableFetch`).
 */
export class ReconnectBackoff {
  #options: NormalizedRetryOptions;
  #lifecycle: LifecycleSource;
  #random: () => number;
  #attempt = 0;
  #outageStartedAt: number | undefined;
  #offlineMs = 0;

  constructor(
    options: NormalizedRetryOptions,
    lifecycle: LifecycleSource,
    random: () => number = Math.random,
  ) {
    this.#options = options;
    this.#lifecycle = lifecycle;
    this.#random = random;
  }

  /** The connection delivered something: the next failure starts a new outage. */
  reset(): void {
    this.#attempt = 0;
    this.#outageStartedAt = undefined;
    this.#offlineMs = 0;
  }

  /**
   * Counts a failure and picks the wait before the next attempt (`Retry-After` honoured, raised to the
   * server's `retry:`); `undefined` when the outage is out of attempts or time. `now` is the time of
   * the failure (epoch ms), given by callers that keep their own clock.
   */
  next(
    error: SpoolClientError,
    serverRetryMs: number | undefined,
    now = Date.now(),
  ): BackoffStep | undefined {
    this.#attempt += 1;
    if (this.#attempt > this.#options.maxAttempts) return undefined;
    this.#outageStartedAt ??= now;
    const elapsedMs = now - this.#outageStartedAt - this.#offlineMs;
    const retryAfterMs = error instanceof HttpError ? error.retryAfterMs : undefined;
    const delayMs = retryDelayMs(this.#attempt, this.#options, { retryAfterMs, serverRetryMs }, this.#random);
    if (elapsedMs + delayMs > this.#options.maxElapsedMs) return undefined;
    return { attempt: this.#attempt, delayMs, elapsedMs };
  }

  /**
   * Waits `delayMs`, longer while offline (an `online` or `visible` event ends it early), and leaves the
   * offline time out of the outage's elapsed time. Rejects with the signal's reason when it aborts.
   */
  async wait(delayMs: number, signal: AbortSignal): Promise<void> {
    await waitForReconnect({
      delayMs,
      signal,
      lifecycle: this.#lifecycle,
      wakeOnVisible: true,
      onOfflineTime: (offlineMs) => {
        this.#offlineMs += offlineMs;
      },
    });
  }
}

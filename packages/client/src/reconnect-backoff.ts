import { HttpError, type SpoolClientError } from './errors.js';
import { type LifecycleSource, waitForReconnect } from './lifecycle.js';
import { type NormalizedRetryOptions, retryDelayMs } from './retry-policy.js';

/** What {@link ReconnectBackoff.wait} tells its caller before it waits. */
export interface BackoffStep {
  /** 1 for the first retry of an outage. */
  attempt: number;
  /** The wait the retry policy chose. */
  delayMs: number;
}

/**
 * One outage's retry budget over the retry policy (`retryDelayMs`, `maxAttempts`, `maxElapsedMs`) and
 * the lifecycle's offline pause: the bookkeeping `connectEventStream` keeps inline, for I/O shells that
 * reconnect at another layer (resumableFetch).
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
   * Waits before the next attempt after `error` (`Retry-After` honoured, raised to the server's `retry:`),
   * longer while offline. Rejects with `error` when the outage is out of attempts or time, and with the
   * signal's reason when it aborts.
   * @returns the step taken.
   */
  async wait(
    error: SpoolClientError,
    signal: AbortSignal,
    serverRetryMs: number | undefined,
    onStep?: (step: BackoffStep) => void,
  ): Promise<BackoffStep> {
    this.#attempt += 1;
    if (this.#attempt > this.#options.maxAttempts) throw error;
    this.#outageStartedAt ??= Date.now();
    const elapsedMs = Date.now() - this.#outageStartedAt - this.#offlineMs;
    const retryAfterMs = error instanceof HttpError ? error.retryAfterMs : undefined;
    const delayMs = retryDelayMs(this.#attempt, this.#options, { retryAfterMs, serverRetryMs }, this.#random);
    if (elapsedMs + delayMs > this.#options.maxElapsedMs) throw error;
    const step = { attempt: this.#attempt, delayMs };
    onStep?.(step);
    await waitForReconnect({
      delayMs,
      signal,
      lifecycle: this.#lifecycle,
      wakeOnVisible: true,
      onOfflineTime: (offlineMs) => {
        this.#offlineMs += offlineMs;
      },
    });
    return step;
  }
}

/** Where a breaker is: passing requests, refusing them, or letting one probe through. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Options of a circuit breaker. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. @default 5 */
  failureThreshold: number;
  /** How long an open breaker refuses before it lets a probe through. @default 30000 */
  cooldownMs: number;
}

/**
 * A circuit breaker for one upstream, as a pure state machine over an injected clock: it opens after
 * `failureThreshold` consecutive failures, refuses for `cooldownMs`, then lets exactly one request
 * probe (half-open); the probe's success closes it, its failure opens it again.
 */
export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** The state now (an open breaker whose cooldown passed reads as half-open). */
  get state(): BreakerState {
    if (this.#state === 'open' && this.now() - this.#openedAt >= this.options.cooldownMs) return 'half-open';
    return this.#state;
  }

  /** How long until an open breaker lets a probe through (0 when it is not open). */
  msUntilProbe(): number {
    if (this.#state !== 'open') return 0;
    return Math.max(0, this.options.cooldownMs - (this.now() - this.#openedAt));
  }

  /** Whether a request may go to this upstream now; in half-open, only the first caller gets `true`. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open') return false;
    if (this.#probing) return false;
    this.#probing = true;
    this.#state = 'half-open';
    return true;
  }

  /** Records a success: closes the breaker and resets the count. */
  recordSuccess(): void {
    this.#state = 'closed';
    this.#failures = 0;
    this.#probing = false;
  }

  /** Records a failure that says the upstream is unhealthy (not a client error). */
  recordFailure(): void {
    this.#failures++;
    if (this.#state === 'half-open' || this.#failures >= this.options.failureThreshold) {
      this.#state = 'open';
      this.#openedAt = this.now();
      this.#probing = false;
    }
  }

  /** Releases a half-open probe that ended without telling anything (e.g. the client left). */
  releaseProbe(): void {
    this.#probing = false;
  }
}

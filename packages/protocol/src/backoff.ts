/**
 * The exponential backoff with jitter both the gateway (towards its upstreams) and the client (towards
 * the gateway) wait by between attempts. Pure: the random source is an argument.
 */

/** How random spreading is applied to each backoff delay. */
export type JitterMode = 'full' | 'equal' | 'none';

/** The shape of an exponential backoff. */
export interface BackoffOptions {
  /** Delay cap before the first retry; each later retry multiplies it by `multiplier`. */
  initialDelayMs: number;
  /** Upper bound of any computed backoff delay. */
  maxDelayMs: number;
  /** Growth factor between consecutive retries. */
  multiplier: number;
  /**
   * `'full'`: uniform in [0, delay] (AWS "full jitter"); `'equal'`: uniform in [delay/2, delay];
   * `'none'`: exactly the delay.
   */
  jitter: JitterMode;
}

/** The backoff both sides use unless configured otherwise: 500 ms doubling up to 30 s, full jitter. */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 'full',
};

/**
 * The backoff delay before retry number `attempt` (1-based): `initialDelayMs · multiplier^(attempt-1)`,
 * capped at `maxDelayMs`, then jittered with `random()` ∈ [0, 1).
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** exponent);
  if (options.jitter === 'none') return Math.round(ceiling);
  if (options.jitter === 'equal') return Math.round(ceiling / 2 + random() * (ceiling / 2));
  return Math.round(random() * ceiling);
}

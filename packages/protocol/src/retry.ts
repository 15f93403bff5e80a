/**
 * The retry rules the gateway (towards its upstreams) and the client (towards the gateway) share: which
 * statuses are worth another attempt, how long a server asked to wait, and the backoff between attempts.
 * Pure: the clock and the random source are arguments.
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

/** The subset of `Headers` the parsers read. */
export interface HeaderReader {
  get(name: string): string | null;
}

/**
 * Reads how long a server asked the client to wait: `retry-after-ms` (OpenAI's, milliseconds) first,
 * then `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * @returns milliseconds (≥ 0), or `undefined` when absent or unparseable.
 */
export function parseRetryAfter(headers: HeaderReader, nowMs: number): number | undefined {
  const milliseconds = headers.get('retry-after-ms');
  if (milliseconds !== null && /^\s*\d+(\.\d+)?\s*$/.test(milliseconds)) {
    return Math.round(Number(milliseconds));
  }
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/**
 * Whether an HTTP status is worth retrying: 408, 409, 429 and 5xx are (the server is busy, slow or
 * restarting); everything else — 400, 401, 403, 404, 410, 422 … — will answer the same again.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

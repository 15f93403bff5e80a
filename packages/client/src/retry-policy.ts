import { backoffDelayMs, DEFAULT_BACKOFF, type JitterMode } from '@spool/protocol';

export type { JitterMode } from '@spool/protocol';

/** Reconnection and retry tuning. Every default lives in {@link normalizeRetryOptions}. */
export interface RetryOptions {
  /**
   * Delay cap before the first retry; each later retry multiplies it by `multiplier`.
   * @default 500
   */
  initialDelayMs?: number;
  /**
   * Upper bound of any computed backoff delay (a server's `Retry-After` is honoured beyond it).
   * @default 30000
   */
  maxDelayMs?: number;
  /**
   * Growth factor between consecutive retries.
   * @default 2
   */
  multiplier?: number;
  /**
   * `'full'`: uniform in [0, delay] (AWS "full jitter"); `'equal'`: uniform in [delay/2, delay];
   * `'none'`: exactly the delay.
   * @default 'full'
   */
  jitter?: JitterMode;
  /**
   * Consecutive failed attempts allowed in one outage; the count resets once a connection delivers an event.
   * @default 8
   */
  maxAttempts?: number;
  /**
   * Time one outage may last (first failure to recovery, time offline excluded) before giving up.
   * @default 120000
   */
  maxElapsedMs?: number;
}

/** {@link RetryOptions} with every field present. */
export type NormalizedRetryOptions = Required<RetryOptions>;

/**
 * Resolves the `retry` option into full settings; the single home of every default.
 * `false` or `0` disables retries, a number sets `maxAttempts`, an object overrides fields.
 * @example normalizeRetryOptions(3) // { maxAttempts: 3, initialDelayMs: 500, … }
 */
export function normalizeRetryOptions(
  retry: number | boolean | RetryOptions | undefined,
): NormalizedRetryOptions {
  const defaults: NormalizedRetryOptions = {
    ...DEFAULT_BACKOFF,
    maxAttempts: 8,
    maxElapsedMs: 120_000,
  };
  if (retry === undefined || retry === true) return defaults;
  if (retry === false) return { ...defaults, maxAttempts: 0 };
  if (typeof retry === 'number') return { ...defaults, maxAttempts: Math.max(0, Math.floor(retry)) };
  const merged = { ...defaults };
  for (const [key, value] of Object.entries(retry)) {
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  return merged;
}

/** What decides the wait before a retry besides the attempt number. */
export interface RetryDelayHints {
  /** From the failed response's `Retry-After` / `retry-after-ms`: used as is. */
  retryAfterMs?: number | undefined;
  /** From the stream's `retry:` field: the least a reconnect after a drop should wait. */
  serverRetryMs?: number | undefined;
}

/**
 * The wait before retry `attempt`: the server's `Retry-After` when given (it knows its load), otherwise
 * the jittered backoff, raised to the stream's `retry:` value (WHATWG SSE §9.2.6 reconnection time)
 * and capped at `maxDelayMs`.
 */
export function retryDelayMs(
  attempt: number,
  options: NormalizedRetryOptions,
  hints: RetryDelayHints,
  random: () => number,
): number {
  if (hints.retryAfterMs !== undefined) return Math.max(0, hints.retryAfterMs);
  const backoff = backoffDelayMs(attempt, options, random);
  if (hints.serverRetryMs === undefined) return backoff;
  return Math.min(options.maxDelayMs, Math.max(backoff, hints.serverRetryMs));
}

/**
 * What a failed exchange says about retrying: the status, the error body, `Retry-After`. Pure; used
 * where failures are read (error-bodies.ts), apart from the backoff arithmetic in retry-policy.ts.
 */

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

/**
 * Codes a client retry cannot fix although their status is retryable: `upstream_unreachable` comes
 * after the gateway itself retried and failed over (or while its circuit breaker keeps a dead
 * upstream out), so waiting and asking again only delays telling the user the model is down.
 */
const FINAL_ERROR_CODES = new Set(['upstream_unreachable']);

/** Whether an HTTP error answer is worth retrying, by its status and its body's `error.code`. */
export function isRetryableAnswer(status: number, code: string | null | undefined): boolean {
  return isRetryableStatus(status) && !(typeof code === 'string' && FINAL_ERROR_CODES.has(code));
}

const TRANSIENT_STREAM_ERROR_CODES = new Set([
  'rate_limit_exceeded',
  'concurrency_limit_exceeded',
  'upstream_timeout',
  'store_unavailable',
  'shutting_down',
  'generation_lost',
]);
const TRANSIENT_STREAM_ERROR_TYPES = new Set(['overloaded_error', 'rate_limit_error']);

/**
 * Whether a mid-stream error body is clearly transient (overload, timeout, shutdown), so starting the
 * request again could succeed. Anything else — content filters, bad requests, unknown codes — is final.
 */
export function isTransientStreamError(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return false;
  const { code, type } = error as { code?: unknown; type?: unknown };
  return (
    (typeof code === 'string' && TRANSIENT_STREAM_ERROR_CODES.has(code)) ||
    (typeof type === 'string' && TRANSIENT_STREAM_ERROR_TYPES.has(type))
  );
}

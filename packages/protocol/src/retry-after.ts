/**
 * What a failed HTTP answer says about retrying, read the same way by the gateway and the client:
 * how long the server asked to wait, and whether the status is worth another attempt. Pure. Its own
 * module, apart from the backoff, so a browser bundle loads it only with the first failure.
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

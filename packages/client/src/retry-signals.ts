/**
 * What a failed exchange says about retrying: the status, the error body, `Retry-After`. Pure; used
 * where failures are read (error-bodies.ts), apart from the backoff arithmetic in retry-policy.ts.
 */

import { isRetryableStatus } from '@spool/protocol';

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

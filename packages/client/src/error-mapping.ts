import { NetworkError, SpoolClientError } from './errors.js';
import { memoizeImport } from './lazy-import.js';
import type { PlannedRequest } from './resume-planner.js';

/**
 * Whether an event reports an error: `event: error`, or `data: {"error": {"message": …}}`. Cheap for
 * ordinary chunks, which never contain `"error"` unescaped outside an error body.
 */
export function isErrorEvent(message: { event?: string | undefined; data: string }): boolean {
  if (message.event === 'error') return true;
  if (!message.data.includes('"error"')) return false;
  try {
    // @spool/protocol's isErrorBody, restated: importing it would pull that module's error-body
    // normalizer (needed only once something failed) into the up-front bundle.
    const error = (JSON.parse(message.data) as { error?: { message?: unknown } } | null)?.error;
    return typeof error === 'object' && error !== null && typeof error.message === 'string';
  } catch {
    return false;
  }
}

/**
 * Reading error bodies into errors, loaded on the first failure: bundlers split it into a chunk of its
 * own, which a stream that never fails does not fetch.
 */
export const loadErrorBodies = memoizeImport(() => import('./error-bodies.js'));

/** Turns whatever an attempt threw into a {@link SpoolClientError}: an idle timeout, ours, or a network failure. */
export function toClientError(
  raw: unknown,
  attemptSignal: AbortSignal,
  planned: PlannedRequest,
): SpoolClientError {
  if (attemptSignal.aborted && attemptSignal.reason instanceof SpoolClientError) return attemptSignal.reason;
  if (raw instanceof SpoolClientError) return raw;
  const detail = raw instanceof Error ? raw.message : String(raw);
  // No "retrying" in the message: the same error is final once retries run out.
  return new NetworkError(`Connection to ${planned.url} failed (${detail}). Check the URL and the network.`, {
    cause: raw,
  });
}

/**
 * Reading failures into errors: HTTP error responses and error events. Imported on the first
 * failure (see error-mapping.ts), so the happy path never loads it.
 */
import { isRetryableStatus, normalizeErrorBody, parseRetryAfter, REQUEST_ID_HEADER } from '@spool/protocol';
import { HttpError, StreamError } from './errors.js';
import type { PlannedRequest } from './resume-planner.js';
import { isRetryableAnswer, isTransientStreamError } from './retry-signals.js';
import type { TransportResponse } from './transport.js';

const ERROR_BODY_LIMIT_CHARS = 64 * 1024;

/** Reads an error event (see {@link isErrorEvent}) into a {@link StreamError}. */
export function toStreamError(message: { data: string }, requestId?: string): StreamError {
  const body = parseJson(message.data);
  const normalized = normalizeErrorBody(500, body, message.data || 'The server sent an error event.');
  // No "retrying" in the message: the same error is final once retries run out (`retryable` tells).
  return new StreamError(`The server reported an error mid-stream: ${normalized.error.message}`, {
    code: normalized.error.code ?? 'stream_error',
    retryable: isTransientStreamError(normalized),
    body,
    requestId,
  });
}

/** Reads a non-2xx response (status, OpenAI error body, Retry-After, request id) into an {@link HttpError}. */
export async function toHttpError(response: TransportResponse, planned: PlannedRequest): Promise<HttpError> {
  let text = '';
  try {
    await response.read((chunk) => {
      text += chunk;
      return text.length > ERROR_BODY_LIMIT_CHARS ? false : undefined;
    });
  } catch {
    // The status is what matters; a body cut short only loses the message.
  }
  const parsed = parseJson(text);
  const status = response.status;
  const body = normalizeErrorBody(status, parsed, `HTTP ${status}`);
  // A resume's 404/410 means the stream is unknown or gone, whatever code the body names.
  const resumeCode =
    planned.kind !== 'resume'
      ? undefined
      : status === 404
        ? 'stream_not_found'
        : status === 410
          ? 'stream_expired'
          : undefined;
  return new HttpError(
    `${planned.method} ${planned.url} failed with HTTP ${status}: ${body.error.message}.${hintForStatus(status, planned)}`,
    {
      code: resumeCode ?? body.error.code ?? `http_${status}`,
      status,
      retryable: isRetryableAnswer(status, body.error.code),
      retryAfterMs: parseRetryAfter(response.headers, Date.now()),
      requestId: response.headers.get(REQUEST_ID_HEADER) ?? undefined,
      body: parsed,
    },
  );
}

/** What the caller can do about a status; nothing for 5xx and 408/409 (server-side, `retryable`). */
function hintForStatus(status: number, planned: PlannedRequest): string {
  if (status === 401) return ' Set `apiKey` or `headers`; refresh tokens in `onUnauthorized`.';
  if (status === 403) return ' The API key may not use this model or stream.';
  if ((status === 404 || status === 410) && planned.kind === 'resume')
    return ' The stream expired; start a new request.';
  if (status === 404) return ' Check `baseURL` (usually ending in /v1) and the model.';
  if (status === 422) return ' An Idempotency-Key was reused with another body; send a new request.';
  if (status === 429) return ' Set `maxConcurrent` or `requestsPerMinute` to stay under the limit.';
  return isRetryableStatus(status) ? '' : ' Fix the request.';
}

/** The JSON value of `text`, or the text itself when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

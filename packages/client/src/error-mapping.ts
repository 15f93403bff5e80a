import { isErrorBody, normalizeErrorBody, REQUEST_ID_HEADER } from '@spool/protocol';
import { HttpError, NetworkError, SpoolClientError, StreamError } from './errors.js';
import type { PlannedRequest } from './resume-planner.js';
import { isRetryableStatus, isTransientStreamError, parseRetryAfter } from './retry-policy.js';
import type { TransportResponse } from './transport.js';

const ERROR_BODY_LIMIT_CHARS = 64 * 1024;

/** Reads an `event: error` or `data: {"error": …}` event into a {@link StreamError}; other events give `undefined`. */
export function asStreamError(
  message: { event?: string | undefined; data: string },
  requestId?: string,
): StreamError | undefined {
  const isErrorEvent = message.event === 'error';
  if (!isErrorEvent && !message.data.includes('"error"')) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(message.data);
  } catch {
    body = message.data;
  }
  if (!isErrorEvent && !isErrorBody(body)) return undefined;
  const normalized = normalizeErrorBody(500, body, message.data || 'The server sent an error event.');
  const retryable = isTransientStreamError(normalized);
  return new StreamError(
    `The server reported an error mid-stream: ${normalized.error.message}` +
      (retryable ? ' (transient; the request is started again).' : ''),
    { code: normalized.error.code ?? 'stream_error', retryable, body, requestId },
  );
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
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  const status = response.status;
  const body = normalizeErrorBody(status, parsed, `HTTP ${status}`);
  return new HttpError(
    `${planned.method} ${planned.url} failed with HTTP ${status}: ${body.error.message}. ${hintForStatus(status, planned)}`,
    {
      code: body.error.code ?? `http_${status}`,
      status,
      retryable: isRetryableStatus(status),
      retryAfterMs: parseRetryAfter(response.headers, Date.now()),
      requestId: response.headers.get(REQUEST_ID_HEADER) ?? undefined,
      body: parsed,
    },
  );
}

function hintForStatus(status: number, planned: PlannedRequest): string {
  if (status === 401)
    return 'Set `apiKey` or pass `headers.Authorization`; refresh expiring tokens in `onUnauthorized`.';
  if (status === 403) return 'The API key is not allowed this model or stream.';
  if ((status === 404 || status === 410) && planned.kind === 'resume')
    return 'The stream expired or is unknown to this gateway; start a new request.';
  if (status === 404) return 'Check `baseURL` (it usually ends in /v1) and the model name.';
  if (status === 422) return 'A retry reused an Idempotency-Key with a different body; send a new request.';
  if (status === 429) return 'Rate limited; set `maxConcurrent` or `requestsPerMinute` on the client.';
  if (status >= 500) return 'The server failed; retries will follow if allowed.';
  return 'Fix the request; retrying will not help.';
}

/** Turns whatever an attempt threw into a {@link SpoolClientError}: an idle timeout, ours, or a network failure. */
export function toClientError(
  raw: unknown,
  attemptSignal: AbortSignal,
  planned: PlannedRequest,
): SpoolClientError {
  if (attemptSignal.aborted && attemptSignal.reason instanceof SpoolClientError) return attemptSignal.reason;
  if (raw instanceof SpoolClientError) return raw;
  const detail = raw instanceof Error ? raw.message : String(raw);
  return new NetworkError(
    `Connection to ${planned.url} failed (${detail}). Check the URL and the network; it is retried meanwhile.`,
    { cause: raw },
  );
}

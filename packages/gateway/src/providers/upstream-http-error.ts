import { normalizeErrorBody, parseRetryAfter } from '@spool/protocol';
import { UpstreamError } from '../errors.js';
import type { ResponseHeaders } from './sse-request.js';

const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** How a provider's own statuses differ from HTTP's usual meaning. */
export interface UpstreamHttpErrorOptions {
  /** A status the provider uses for "overloaded, try later" (Anthropic's 529): answered as a retryable 503. */
  overloadedStatus?: number;
}

/**
 * Reads an upstream's HTTP error (bounded) into the gateway's, as `httpErrorFromText` does.
 */
export async function upstreamHttpError(
  name: string,
  status: number,
  headers: ResponseHeaders,
  body: AsyncIterable<Buffer>,
  options: UpstreamHttpErrorOptions = {},
): Promise<UpstreamError> {
  let text = '';
  for await (const chunk of body) {
    if (text.length < MAX_ERROR_BODY_BYTES) text += chunk.toString('utf8');
  }
  return httpErrorFromText(name, status, headers, text, options);
}

/**
 * An upstream's HTTP error as the gateway's: an OpenAI-shaped body, `Retry-After` kept, and the
 * upstream refusing the gateway's own credentials (401/403) reported as 502 — passed through, a
 * 401 would tell the client that *its* key is wrong and make it stop retrying.
 */
export function httpErrorFromText(
  name: string,
  status: number,
  headers: ResponseHeaders,
  text: string,
  options: UpstreamHttpErrorOptions = {},
): UpstreamError {
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  const normalized = normalizeErrorBody(status, parsed, `Upstream "${name}" answered HTTP ${status}`);
  const retryAfterMs = parseRetryAfter({ get: (header) => headerValue(headers[header]) }, Date.now());
  const retryAfterSeconds = retryAfterMs !== undefined ? Math.ceil(retryAfterMs / 1000) : undefined;
  if (status === 401 || status === 403) {
    normalized.error.message = `Upstream "${name}" rejected the gateway's credentials: ${normalized.error.message}`;
    normalized.error.type = 'api_error';
    return new UpstreamError(502, normalized, { retryable: false });
  }
  if (status === options.overloadedStatus)
    return new UpstreamError(503, normalized, { retryable: true, retryAfterSeconds });
  return new UpstreamError(status, normalized, { retryAfterSeconds });
}

/** One header's value as `Headers.get` gives it (the first of repeated ones). */
function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}

/**
 * The error for a streamed request that was answered with something else than an event stream:
 * the upstream's HTTP error, or a 2xx of the wrong content type.
 */
export function notAnEventStream(
  name: string,
  response: { statusCode: number; headers: ResponseHeaders; text: string },
  options: UpstreamHttpErrorOptions = {},
): UpstreamError {
  const { statusCode, headers, text } = response;
  if (statusCode < 200 || statusCode >= 300)
    return httpErrorFromText(name, statusCode, headers, text, options);
  const contentType = String(headers['content-type'] ?? '');
  return UpstreamError.ofCode(
    'upstream_error',
    `Upstream "${name}" answered a streamed request with "${contentType || 'no content type'}" instead of text/event-stream`,
  );
}

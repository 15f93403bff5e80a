import { errorBody, normalizeErrorBody } from '@spool/protocol';
import { UpstreamError } from '../errors.js';

/** Data whose first key is `error`: an OpenAI-shaped error where a chunk belongs. */
const ERROR_FIRST = /^\s*\{\s*"error"\s*:/;

/**
 * Whether an event's data starts with an `error` key: how a chat stream's error event is told from
 * its chunks without parsing them (by the relay, `surfaces/chat/chat-events.ts`, and by read-ahead).
 */
export function startsWithErrorKey(data: string): boolean {
  return ERROR_FIRST.test(data);
}

/**
 * The gateway status for an upstream error type or code that says "come back later", as the HTTP
 * error it stands for is answered (`upstream-http-error.ts`): Anthropic's 529 is a retryable 503.
 */
const RETRY_LATER_STATUS: ReadonlyMap<string, number> = new Map([
  ['overloaded_error', 503], // Anthropic's type, whose HTTP status is 529
  ['rate_limit_error', 429], // Anthropic's type
  ['rate_limit_exceeded', 429], // OpenAI's code
  // An HTTP status as the code, as Google's OpenAI compatibility sends it.
  ['429', 429],
  ['503', 503],
  ['529', 503],
]);

/** The status an upstream error event answers with when it does not say "come back later". */
const UPSTREAM_EVENT_ERROR_STATUS = 502;

/**
 * The fields of an upstream's error event, whatever its API's shape: `error` (OpenAI's chunk,
 * Anthropic's event), `response.error` (a Responses `response.failed`), or the event itself
 * (a Responses `error` event, which is flat: `type` is the event's, not the error's).
 */
function errorFields(payload: unknown): unknown {
  if (typeof payload !== 'object' || payload === null) return payload;
  const record = payload as Record<string, unknown>;
  if (typeof record.error === 'object' && record.error !== null) return record.error;
  if (record.type === 'response.failed') return (record.response as { error?: unknown } | undefined)?.error;
  if (record.type === 'error') {
    const { type: _event, sequence_number: _sequenceNumber, ...fields } = record;
    return fields;
  }
  return record;
}

function statusOf(fields: unknown): number {
  if (typeof fields !== 'object' || fields === null) return UPSTREAM_EVENT_ERROR_STATUS;
  const { type, code } = fields as { type?: unknown; code?: unknown };
  return (
    (typeof type === 'string' ? RETRY_LATER_STATUS.get(type) : undefined) ??
    (typeof code === 'string' || typeof code === 'number'
      ? RETRY_LATER_STATUS.get(String(code))
      : undefined) ??
    UPSTREAM_EVENT_ERROR_STATUS
  );
}

/**
 * The gateway's error for an upstream's error event (`data` as sent: OpenAI's `{"error": …}`,
 * Anthropic's `{"type":"error","error":…}`, Responses' flat `error` or its `response.failed`): the
 * upstream's message, type, code and param in OpenAI's shape, and the status the same error answered
 * as HTTP gets (an overload 503, a rate limit 429, else 502). With no message of the upstream's it
 * is `upstream_error` with `fallbackMessage`.
 */
export function upstreamEventError(
  data: string,
  fallbackMessage: string,
  options: { retryable?: boolean } = {},
): UpstreamError {
  let payload: unknown = data;
  try {
    payload = JSON.parse(data);
  } catch {}
  const fields = errorFields(payload);
  const status = statusOf(fields);
  const body = normalizeErrorBody(status, fields, fallbackMessage);
  return new UpstreamError(
    status,
    body.error.message === fallbackMessage ? errorBody('upstream_error', fallbackMessage) : body,
    options,
  );
}

/** The `error` object of an OpenAI error body. */
export interface OpenAIErrorObject {
  message: string;
  type: string;
  code: string | null;
  param: string | null;
  /**
   * Spool's addition: on an error that an upstream answered or caused (its rate limit, its outage),
   * the name of that provider in the gateway's configuration; absent on the gateway's own errors.
   */
  provider?: string;
}

/** The whole OpenAI error body: `{"error": {...}}`. */
export interface OpenAIErrorBody {
  error: OpenAIErrorObject;
}

/**
 * Every error code Spool puts on the wire, with the HTTP status it answers with and the OpenAI
 * `type` that SDKs map to their error classes.
 */
export const ERROR_CODES = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  invalid_last_event_id: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  loopback_only: { status: 403, type: 'permission_error' },
  stream_forbidden: { status: 403, type: 'permission_error' },
  origin_not_allowed: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  stream_not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  request_timeout: { status: 408, type: 'invalid_request_error' },
  stream_in_progress: { status: 409, type: 'invalid_request_error' },
  stream_cancelled: { status: 409, type: 'invalid_request_error' },
  stream_expired: { status: 410, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  idempotency_key_reused: { status: 422, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'requests' },
  tokens_limit_exceeded: { status: 429, type: 'tokens' },
  concurrency_limit_exceeded: { status: 429, type: 'requests' },
  internal_error: { status: 500, type: 'server_error' },
  upstream_error: { status: 502, type: 'api_error' },
  upstream_unreachable: { status: 502, type: 'api_error' },
  stream_too_large: { status: 502, type: 'api_error' },
  upstream_event_too_large: { status: 502, type: 'api_error' },
  upstream_protocol_error: { status: 502, type: 'api_error' },
  generation_limit_exceeded: { status: 502, type: 'api_error' },
  store_unavailable: { status: 503, type: 'server_error' },
  upstream_busy: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  /** The gateway instance generating a stream died; the stream ended short (a new request starts over). */
  generation_lost: { status: 503, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'api_error' },
} as const satisfies Record<string, { status: number; type: string }>;

/** A machine-readable error code Spool itself emits. */
export type SpoolErrorCode = keyof typeof ERROR_CODES;

/** The OpenAI error `type` conventionally used for an HTTP status. */
export function errorTypeForStatus(status: number): string {
  if (status === 400 || status === 404 || status === 409 || status === 413 || status === 422)
    return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_exceeded';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Builds an OpenAI error body for one of Spool's own codes. */
export function errorBody(
  code: SpoolErrorCode,
  message: string,
  param: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type: ERROR_CODES[code].type, code, param } };
}

/** The HTTP status that goes with one of Spool's own codes. */
export function statusForCode(code: SpoolErrorCode): number {
  return ERROR_CODES[code].status;
}

/**
 * Reads an error body of any shape an upstream may send (OpenAI's, Anthropic's, a bare string,
 * `{"detail": …}` from FastAPI servers, `{"message": …}`) into OpenAI's shape.
 */
export function normalizeErrorBody(status: number, raw: unknown, fallbackMessage: string): OpenAIErrorBody {
  let message = fallbackMessage;
  let type = errorTypeForStatus(status);
  let code: string | null = null;
  let param: string | null = null;
  const record = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : undefined;
  const inner = record && typeof record.error === 'object' && record.error !== null ? record.error : record;
  if (typeof raw === 'string' && raw.trim() !== '') message = raw.trim().slice(0, 2000);
  if (inner && typeof inner === 'object') {
    const fields = inner as Record<string, unknown>;
    if (typeof fields.message === 'string') message = fields.message;
    else if (typeof fields.detail === 'string') message = fields.detail;
    else if (record && typeof record.error === 'string') message = record.error;
    if (typeof fields.type === 'string') type = fields.type;
    if (typeof fields.code === 'string') code = fields.code;
    else if (typeof fields.code === 'number') code = String(fields.code);
    if (typeof fields.param === 'string') param = fields.param;
  }
  return { error: { message, type, code, param } };
}

/** Whether a parsed JSON value is an OpenAI-shaped error body (as sent in a mid-stream error event). */
export function isErrorBody(value: unknown): value is OpenAIErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

/** Response header carrying the unguessable id of a spooled stream. */
export const STREAM_ID_HEADER = 'x-stream-id';
/** Request header naming one logical request across retries. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Request header with the last event id the client has seen (WHATWG SSE §9.2.4). */
export const LAST_EVENT_ID_HEADER = 'last-event-id';
/** Request and response header correlating one HTTP exchange with the gateway's logs. */
export const REQUEST_ID_HEADER = 'x-request-id';
/** Request header asking the simulator for a fault (see `parseFaultSpec`). */
export const FAULT_HEADER = 'x-spool-fault';
/** Query parameter equivalent of `Last-Event-ID`, for native EventSource reconnect URLs. */
export const LAST_EVENT_ID_QUERY = 'last_event_id';

/** Headers every streamed response carries besides `X-Stream-Id` and `X-Request-Id`. */
export const SSE_RESPONSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
});

/** Request headers a browser may send cross-origin (CORS `Access-Control-Allow-Headers`). */
export const ALLOWED_REQUEST_HEADERS: readonly string[] = [
  'authorization',
  'content-type',
  IDEMPOTENCY_KEY_HEADER,
  LAST_EVENT_ID_HEADER,
  REQUEST_ID_HEADER,
  FAULT_HEADER,
  'prefer',
  'x-api-key',
  // Anthropic's SDK in a browser (`dangerouslyAllowBrowser`) sends these on every Messages request.
  'anthropic-version',
  'anthropic-beta',
  'anthropic-dangerous-direct-browser-access',
  'x-stainless-arch',
  'x-stainless-lang',
  'x-stainless-os',
  'x-stainless-package-version',
  'x-stainless-retry-count',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-timeout',
];

/** Headers a browser may read from a cross-origin response (CORS `Access-Control-Expose-Headers`). */
export const EXPOSED_HEADERS: readonly string[] = [
  STREAM_ID_HEADER,
  REQUEST_ID_HEADER,
  'retry-after',
  'x-spool-cache',
  'x-spool-token-count',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
];

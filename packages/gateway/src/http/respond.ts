import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors.js';
import { StoreUnavailableError } from '../spool/store.js';

/** Sends a JSON body with a status, unless the response has already started. */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** Whether a request has a body that has not all arrived (nothing is known of one without a length). */
function hasUnreadBody(request: IncomingMessage): boolean {
  if (request.complete) return false;
  const { headers } = request;
  return headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0;
}

/**
 * The headers of an error's answer: its own (rate limits, `Allow`), `headers`, `Retry-After` when it
 * has one, and `Connection: close` when the request's body has not all arrived: node:http would
 * otherwise read the rest of it (a bad key could still upload its whole body) to reuse the connection.
 */
export function errorHeaders(
  response: ServerResponse,
  error: GatewayError,
  headers: Record<string, string> = {},
): Record<string, string> {
  const extra = { ...error.headers, ...headers };
  if (error.retryAfterSeconds !== undefined) extra['retry-after'] = String(error.retryAfterSeconds);
  if (response.req && hasUnreadBody(response.req)) extra.connection = 'close';
  return extra;
}

/** Sends a gateway error in OpenAI's shape (headers as `errorHeaders` says). */
export function sendError(
  response: ServerResponse,
  error: GatewayError,
  headers: Record<string, string> = {},
): void {
  sendJson(response, error.status, error.body, errorHeaders(response, error, headers));
}

/** Converts anything thrown into a gateway error (500 for what was not expected). */
export function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof StoreUnavailableError) {
    return GatewayError.of(
      'store_unavailable',
      `The spool store is unavailable: ${error.message}. Retry shortly.`,
      {
        retryAfterSeconds: 1,
        cause: error,
      },
    );
  }
  return GatewayError.of(
    'internal_error',
    'The gateway failed unexpectedly; see its logs for the request id.',
    {
      cause: error,
    },
  );
}

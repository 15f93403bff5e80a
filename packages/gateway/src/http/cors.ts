import type { IncomingMessage, ServerResponse } from 'node:http';
import { ALLOWED_REQUEST_HEADERS, EXPOSED_HEADERS } from '@spool/protocol';
import { GatewayError } from '../errors.js';

/** CORS settings: which browser origins may call the gateway. */
export interface CorsOptions {
  /** Allowed origins (`https://app.example`), or `*` for any. Same-origin requests are always allowed. */
  origins: readonly string[];
  /** How long a browser may cache a preflight answer. */
  maxAgeSeconds: number;
}

const METHODS = 'GET, POST, DELETE, OPTIONS';

/** Whether the Origin is the gateway itself (the chat page it serves). */
function isSameOrigin(request: IncomingMessage, origin: string): boolean {
  const host = request.headers.host;
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
}

/**
 * Applies the CORS policy: adds the allow/expose headers for an allowed origin, answers preflights,
 * and refuses a cross-origin request from anywhere else with 403 — so a page on another site cannot
 * drive a gateway (dev mode on loopback included) through a visitor's browser.
 * @returns true when the request was a preflight and has been answered.
 */
export function applyCors(options: CorsOptions, request: IncomingMessage, response: ServerResponse): boolean {
  const origin = request.headers.origin;
  if (origin === undefined || isSameOrigin(request, origin)) {
    if (request.method !== 'OPTIONS') return false;
    response.writeHead(204, { allow: METHODS });
    response.end();
    return true;
  }
  const allowed = options.origins.includes('*') || options.origins.includes(origin);
  if (!allowed) {
    throw GatewayError.of(
      'origin_not_allowed',
      `Origin ${origin} may not call this gateway; add it to cors.origins in the configuration.`,
    );
  }
  response.setHeader('access-control-allow-origin', origin);
  response.setHeader('vary', 'Origin');
  response.setHeader('access-control-expose-headers', EXPOSED_HEADERS.join(', '));
  if (request.method !== 'OPTIONS') return false;
  response.writeHead(204, {
    'access-control-allow-methods': METHODS,
    'access-control-allow-headers': ALLOWED_REQUEST_HEADERS.join(', '),
    'access-control-max-age': String(options.maxAgeSeconds),
  });
  response.end();
  return true;
}

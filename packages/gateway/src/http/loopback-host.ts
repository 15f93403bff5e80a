import type { IncomingMessage } from 'node:http';
import { isIPv4 } from 'node:net';
import { GatewayError } from '../errors.js';

/**
 * Whether a `Host` header names this machine: `localhost` or a name under `.localhost`
 * (RFC 6761 §6.3), an address in 127.0.0.0/8, or `[::1]`, with any port.
 */
export function isLoopbackHost(host: string): boolean {
  let name = host.toLowerCase();
  const port = /:(\d{1,5})$/.exec(name);
  if (port && !name.endsWith(']') && (name.startsWith('[') || name.indexOf(':') === port.index)) {
    name = name.slice(0, port.index);
  }
  if (name.startsWith('[') && name.endsWith(']'))
    return ['::1', '0:0:0:0:0:0:0:1'].includes(name.slice(1, -1));
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name === 'localhost' || name.endsWith('.localhost')) return /^[a-z0-9.-]+$/.test(name);
  return isIPv4(name) && name.startsWith('127.');
}

/**
 * Refuses a request whose `Host` does not name this machine: checking the peer address is not
 * enough in dev mode, because a page on `evil.example` that its DNS rebinds to 127.0.0.1 reaches the
 * gateway from loopback, with `Host: evil.example` (and, being same-origin, passes CORS). Requests
 * without a `Host` (HTTP/1.0) do not come from a browser and pass.
 */
export function refuseForeignHost(request: IncomingMessage): void {
  const host = request.headers.host;
  if (host === undefined || isLoopbackHost(host)) return;
  throw GatewayError.of(
    'host_not_allowed',
    `This gateway has no API keys configured (dev mode) and answers only requests addressed to this machine (localhost, 127.0.0.1, [::1]), not to ${JSON.stringify(host.slice(0, 100))}. Use http://localhost, or add \`keys\` to serve other host names.`,
  );
}

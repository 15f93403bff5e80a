import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { BodyBudget } from './body-budget.js';
import { readBody } from './read-body.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A server whose every request is read with `readBody`; resolves with the outcome of the first. */
async function readFirst(
  limitBytes: number,
  send: (port: number) => void,
  budget?: BodyBudget,
): Promise<Buffer | unknown> {
  let outcome: (value: unknown) => void = () => {};
  const read = new Promise((resolve) => {
    outcome = resolve;
  });
  server = createServer((request: IncomingMessage, response) => {
    readBody(request, { limitBytes, budget }).then(
      (body) => {
        outcome(body);
        response.end();
      },
      (error: unknown) => {
        outcome(error);
        response.destroy();
      },
    );
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  send((server.address() as AddressInfo).port);
  return read;
}

/** Sends a chunked body part by part, then ends it or cuts the connection. */
function sendChunked(port: number, parts: string[], finish: 'end' | 'cut'): void {
  const request = httpRequest({ port, method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
  request.on('error', () => {});
  request.flushHeaders();
  let index = 0;
  const next = () => {
    const part = parts[index++];
    if (part !== undefined) {
      request.write(part, next);
      return;
    }
    if (finish === 'end') request.end();
    else request.destroy();
  };
  next();
}

describe('readBody', () => {
  it('joins a body that comes in several chunks', async () => {
    const body = await readFirst(1024, (port) => sendChunked(port, ['{"a":', '1,"b":', '2}'], 'end'));
    expect((body as Buffer).toString()).toBe('{"a":1,"b":2}');
  });

  it('refuses a chunked body as soon as it passes the limit', async () => {
    const error = await readFirst(10, (port) => sendChunked(port, ['12345', '67890', 'x'], 'end'));
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).body.error.code).toBe('request_too_large');
  });

  it('holds what arrives in the budget, refuses the chunk that does not fit, and gives it all back', async () => {
    const budget = new BodyBudget(10);
    const error = await readFirst(100, (port) => sendChunked(port, ['12345', '678901'], 'end'), budget);
    expect((error as GatewayError).body.error.code).toBe('body_budget_exceeded');
    expect(budget.heldBytes).toBe(0);
    expect(budget.uploadsOf('anonymous')).toBe(0);
  });

  it('refuses a declared Content-Length over the limit before reading', async () => {
    const error = await readFirst(10, (port) => {
      const request = httpRequest({ port, method: 'POST', headers: { 'content-length': '11' } });
      request.on('error', () => {});
      request.end('01234567890');
    });
    expect((error as GatewayError).body.error.code).toBe('request_too_large');
  });

  it('rejects with client_closed_request (499, not a server error) when the client leaves before the body ends', async () => {
    const error = await readFirst(1024, (port) => sendChunked(port, ['{"a":'], 'cut'));
    expect(error).toBeInstanceOf(GatewayError);
    expect([(error as GatewayError).status, (error as GatewayError).code]).toEqual([
      499,
      'client_closed_request',
    ]);
  });
});

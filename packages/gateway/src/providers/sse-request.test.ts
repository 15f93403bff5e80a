import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Pool } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UpstreamEvent } from './provider.js';
import { requestSse, type SseResponse } from './sse-request.js';

type Route = (request: IncomingMessage, response: ServerResponse) => void;

let server: Server;
let pool: Pool;
let route: Route;
/** The server-side socket of every request, in order. */
let sockets: Socket[];

beforeEach(async () => {
  sockets = [];
  server = createServer((request, response) => {
    sockets.push(request.socket);
    route(request, response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1, pipelining: 1 });
});

afterEach(async () => {
  await pool.destroy();
  server.closeAllConnections();
  server.close();
});

const SSE = { 'content-type': 'text/event-stream' };

function send(signal = new AbortController().signal, maxEventBytes?: number): Promise<SseResponse> {
  return requestSse(
    pool,
    { method: 'POST', path: '/v1/chat/completions', body: '{}', signal, maxEventBytes },
    (error) => ({ mapped: error }),
  );
}

async function events(response: SseResponse): Promise<AsyncIterableIterator<UpstreamEvent>> {
  if (response.kind !== 'events') throw new Error(`expected events, got ${response.statusCode}`);
  return response.events;
}

async function collect(iterator: AsyncIterableIterator<UpstreamEvent>): Promise<string[]> {
  const out: string[] = [];
  for await (const event of iterator) out.push(event.data);
  return out;
}

describe('requestSse', () => {
  it('decodes events cut anywhere across chunks, a character cut in two included', async () => {
    const body = Buffer.from('data: a\n\nevent: x\ndata: héllo 🌍\n\ndata: [DONE]\n\n', 'utf8');
    route = async (_request, response) => {
      response.writeHead(200, SSE);
      for (let offset = 0; offset < body.length; offset += 3) {
        response.write(body.subarray(offset, offset + 3));
        await new Promise((resolve) => setImmediate(resolve));
      }
      response.end();
    };
    const iterator = await events(await send());
    const received: UpstreamEvent[] = [];
    for await (const event of iterator) received.push(event);
    expect(received).toEqual([{ data: 'a' }, { data: 'héllo 🌍', event: 'x' }, { data: '[DONE]' }]);
  });

  it('answers an HTTP error or another content type with the body as text', async () => {
    route = (_request, response) => {
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3' });
      response.end('{"error":{"message":"slow down"}}');
    };
    const refused = await send();
    expect(refused).toMatchObject({
      kind: 'body',
      statusCode: 429,
      headers: { 'retry-after': '3' },
      text: '{"error":{"message":"slow down"}}',
    });
    route = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    };
    expect(await send()).toMatchObject({ kind: 'body', statusCode: 200, text: '{}' });
  });

  it('hands over the events received with takeBuffered and keeps the next one for next()', async () => {
    route = (_request, response) => {
      response.writeHead(200, SSE);
      response.end('data: 1\n\ndata: 2\n\ndata: 3\n\n');
    };
    const iterator = (await send()) as Extract<SseResponse, { kind: 'events' }>;
    expect((await iterator.events.next()).value).toEqual({ data: '1' });
    expect(iterator.events.takeBuffered()).toEqual([{ data: '2' }, { data: '3' }]);
    expect(iterator.events.takeBuffered()).toEqual([]);
    expect(await iterator.events.next()).toEqual({ done: true, value: undefined });
  });

  it('gives the events received before the body failed, then the mapped error', async () => {
    route = (request, response) => {
      response.writeHead(200, SSE);
      response.write('data: 1\n\n', () => request.socket.destroy());
    };
    const iterator = await events(await send());
    expect((await iterator.next()).value).toEqual({ data: '1' });
    const failure = await iterator.next().catch((error: unknown) => error);
    expect(failure).toMatchObject({ mapped: expect.any(Error) });
  });

  it('rejects a waiting next() with the reason when the signal aborts mid-stream', async () => {
    route = (_request, response) => {
      response.writeHead(200, SSE);
      response.write('data: 1\n\n');
    };
    const controller = new AbortController();
    const iterator = await events(await send(controller.signal));
    await iterator.next();
    const waiting = iterator.next();
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(waiting).rejects.toEqual({ mapped: reason });
  });

  it('rejects at once when aborted while queued for a connection', async () => {
    route = (_request, response) => {
      response.writeHead(200, SSE);
      response.write('data: 1\n\n');
    };
    // The pool's one connection is taken by an open stream.
    await events(await send());
    const controller = new AbortController();
    const queued = send(controller.signal);
    const reason = new Error('gave up');
    controller.abort(reason);
    await expect(queued).rejects.toEqual({ mapped: reason });
    expect(sockets).toHaveLength(1);
  });

  it('drains a body that ends after the consumer stopped, and reuses its connection', async () => {
    let finish: () => void = () => {};
    route = (_request, response) => {
      response.writeHead(200, SSE);
      response.write('data: [DONE]\n\n');
      finish = () => response.end(': trailing comment\n\n');
    };
    const iterator = await events(await send());
    expect((await iterator.next()).value).toEqual({ data: '[DONE]' });
    expect(await iterator.return?.()).toEqual({ done: true, value: undefined });
    finish();
    route = (_request, response) => {
      response.writeHead(200, SSE);
      response.end('data: again\n\n');
    };
    expect(await collect(await events(await send()))).toEqual(['again']);
    expect(sockets).toHaveLength(2);
    expect(sockets[1]).toBe(sockets[0]);
  });

  it('closes the connection when the body goes on past the drain limit', async () => {
    let flood: () => void = () => {};
    route = (request, response) => {
      // The client resets the connection mid-flood.
      request.socket.on('error', () => {});
      response.writeHead(200, SSE);
      response.write('data: [DONE]\n\n');
      flood = () => response.write(`: ${'x'.repeat(200 * 1024)}\n\n`);
    };
    const iterator = await events(await send());
    await iterator.next();
    await iterator.return?.();
    // Not events.once: the reset also emits 'error', which would reject it.
    const closed = new Promise((resolve) => sockets[0]?.once('close', resolve));
    flood();
    await closed;
    route = (_request, response) => {
      response.writeHead(200, SSE);
      response.end('data: fresh\n\n');
    };
    expect(await collect(await events(await send()))).toEqual(['fresh']);
    expect(sockets[1]).not.toBe(sockets[0]);
  });

  it('pauses a consumer that falls behind and loses nothing when it catches up', async () => {
    const count = 5000;
    route = (_request, response) => {
      response.writeHead(200, SSE);
      for (let index = 0; index < count; index++) response.write(`data: ${index} ${'y'.repeat(100)}\n\n`);
      response.end();
    };
    const iterator = await events(await send());
    expect((await iterator.next()).value?.data).toMatch(/^0 /);
    // Let the server's 500 KB arrive (or back up) before reading the rest.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    const rest = await collect(iterator);
    expect(rest).toHaveLength(count - 1);
    expect(rest.map((data) => Number(data.split(' ')[0]))).toEqual(
      Array.from({ length: count - 1 }, (_, index) => index + 1),
    );
  });

  it('relays an event larger than the read-ahead window (1 MB) intact instead of pausing for ever', async () => {
    const big = 'z'.repeat(1024 * 1024);
    route = (_request, response) => {
      response.writeHead(200, SSE);
      response.write('data: before\n\n');
      // In many writes, as a real upstream streams a big tool call's arguments.
      for (let offset = 0; offset < big.length; offset += 16 * 1024)
        response.write(
          offset === 0 ? `data: ${big.slice(0, 16 * 1024)}` : big.slice(offset, offset + 16 * 1024),
        );
      response.end('\n\ndata: after\n\n');
    };
    const iterator = await events(await send());
    expect(await collect(iterator)).toEqual(['before', big, 'after']);
  });

  it('fails an event past maxEventBytes after the events before it, and closes the connection', async () => {
    route = (request, response) => {
      request.socket.on('error', () => {});
      response.writeHead(200, SSE);
      response.write('data: 1\n\n');
      // Never ends: only the bound can stop it.
      const flood = () => {
        if (!response.destroyed && response.write(`data: ${'w'.repeat(1000)}\n`)) setImmediate(flood);
        else if (!response.destroyed) response.once('drain', flood);
      };
      flood();
    };
    const iterator = await events(await send(undefined, 64 * 1024));
    const closed = new Promise((resolve) => sockets[0]?.once('close', resolve));
    expect((await iterator.next()).value).toEqual({ data: '1' });
    const failure = await iterator.next().catch((error: unknown) => error);
    expect(failure).toMatchObject({ mapped: { name: 'SseEventTooLargeError', maxEventLength: 64 * 1024 } });
    await closed;
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('fails one line past maxEventBytes even when it never ends', async () => {
    route = (request, response) => {
      request.socket.on('error', () => {});
      response.writeHead(200, SSE);
      response.write(`data: ${'v'.repeat(10_000)}`);
    };
    const iterator = await events(await send(undefined, 4096));
    await expect(iterator.next()).rejects.toMatchObject({ mapped: { name: 'SseEventTooLargeError' } });
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { collectSse } from './collect-sse.js';
import { createFaultProxy } from './fault-proxy.js';
import { cutAfterBytes } from './faults.js';

const EVENTS = 'id: 1\ndata: {"n":1}\n\nid: 2\ndata: {"n":2}\n\nid: 3\ndata: [DONE]\n\n';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sseServer(): Promise<number> {
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response.writeHead(200, {
        'content-type': 'text/event-stream',
        'x-echo-body': Buffer.concat(chunks).toString(),
      });
      if (request.url === '/live') {
        response.write('id: 1\ndata: a\n\n');
        return;
      }
      response.end(EVENTS);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

describe('collectSse', () => {
  it('returns status, headers and the body exactly as sent', async () => {
    const port = await sseServer();
    const response = await collectSse(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      body: { stream: true },
    });
    expect(response).toMatchObject({ status: 200, text: EVENTS, complete: true });
    expect(response.headers['content-type']).toBe('text/event-stream');
    expect(response.headers['x-echo-body']).toBe('{"stream":true}');
  });

  it('returns the partial body with complete false when a proxy cuts the stream', async () => {
    const port = await sseServer();
    const proxy = await createFaultProxy({ target: { host: '127.0.0.1', port }, plan: [cutAfterBytes(200)] });
    cleanups.push(() => proxy.close());
    const response = await collectSse(proxy.url);
    expect(response.complete).toBe(false);
    expect(response.text.length).toBeGreaterThan(0);
    expect(EVENTS.startsWith(response.text)).toBe(true);
    expect(response.text).not.toBe(EVENTS);
  });

  it('stops reading a live stream once `until` is satisfied', async () => {
    const port = await sseServer();
    const response = await collectSse(`http://127.0.0.1:${port}/live`, {
      until: (text) => text.includes('\n\n'),
    });
    expect(response).toMatchObject({ status: 200, text: 'id: 1\ndata: a\n\n', complete: false });
  });

  it('rejects with the socket error when nothing answers', async () => {
    const port = await sseServer();
    await cleanups.pop()?.();
    await expect(collectSse(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

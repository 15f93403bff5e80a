import { once } from 'node:events';
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type BufferingProxy, createBufferingProxy } from './buffering-proxy.js';

let proxy: BufferingProxy | undefined;
let server: ReturnType<typeof createServer> | undefined;

afterEach(async () => {
  await proxy?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

/** A target that sends headers and one chunk, then waits for `finish()` before its last chunk. */
async function startTarget(): Promise<{ port: number; finish: () => void; started: Promise<void> }> {
  let held: ServerResponse | undefined;
  let markStarted = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write('data: first\n\n');
    held = response;
    markStarted();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    finish: () => held?.end('data: last\n\n'),
    started,
  };
}

function get(url: string, onHeaders: () => void): Promise<{ body: string; bytesBeforeEnd: number }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, (response) => {
      onHeaders();
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ body, bytesBeforeEnd: body.length }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('createBufferingProxy', () => {
  for (const mode of ['body', 'whole'] as const) {
    it(`holds the ${mode === 'body' ? 'body (headers pass at once)' : 'whole response'} until the response ends`, async () => {
      const target = await startTarget();
      proxy = await createBufferingProxy({ target: { host: '127.0.0.1', port: target.port }, mode });
      let headersSeen = false;
      const got = get(proxy.url, () => {
        headersSeen = true;
      });
      await target.started;
      // The target has sent headers and a first event: give them time to cross if they were to.
      const headersBeforeEnd = await new Promise<boolean>((resolve) => {
        const check = setInterval(() => {
          if (headersSeen) {
            clearInterval(check);
            resolve(true);
          }
        }, 5);
        setTimeout(() => {
          clearInterval(check);
          resolve(headersSeen);
        }, 300);
      });
      expect(headersBeforeEnd).toBe(mode === 'body');
      target.finish();
      expect((await got).body).toBe('data: first\n\ndata: last\n\n');
      expect(proxy.stats).toEqual({ requests: 1, released: 1 });
    });
  }
});

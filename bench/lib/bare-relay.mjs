/**
 * The baseline for the spool's cost (issue 3): a bare SSE relay on the gateway's own stack —
 * node:http in, an undici Pool out through `dispatch` (as the gateway's providers), the gateway's
 * SSE decoder in between — that numbers every event `id: n` and stores nothing. No validation,
 * routing, auth, logging or spool: what is left when the gateway's extras are taken away, the floor
 * for a relay on Node on this machine.
 *
 * Usage: node bench/lib/bare-relay.mjs --upstream http://127.0.0.1:PORT/v1 [--port 0]
 * Prints `Bare relay listening on http://127.0.0.1:PORT`.
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

// The gateway's own copies, so the baseline runs the same versions.
const gatewayRequire = createRequire(new URL('../../packages/gateway/package.json', import.meta.url));
const { Pool } = await import(gatewayRequire.resolve('undici'));
const { SseDecoder } = await import(
  new URL('../../packages/gateway/dist/providers/sse-decoder.js', import.meta.url)
);

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string' } } });
if (!values.upstream) throw new Error('--upstream <base URL with /v1> is required');
const upstream = new URL(values.upstream);
const pathPrefix = upstream.pathname.replace(/\/+$/, '');
const pool = new Pool(upstream.origin, { connections: 20_000, pipelining: 1, keepAliveTimeout: 30_000 });

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** Relays one request's answer: the events renumbered when it is a stream, the body as it is otherwise. */
class RelayHandler {
  #response;
  #decoder = new SseDecoder();
  #events = [];
  #lastId = 0;
  #streaming = false;
  #controller;

  constructor(request, response) {
    this.#response = response;
    response.on('close', () => this.#controller?.abort(new Error('client closed')));
    request.socket.setNoDelay(true);
  }

  onRequestStart(controller) {
    this.#controller = controller;
  }

  onResponseStart(_controller, statusCode, headers) {
    this.#streaming = statusCode === 200 && String(headers['content-type']).includes('text/event-stream');
    this.#response.writeHead(
      statusCode,
      this.#streaming ? SSE_HEADERS : { 'content-type': 'application/json' },
    );
  }

  onResponseData(controller, chunk) {
    if (!this.#streaming) {
      this.#response.write(chunk);
      return;
    }
    this.#decoder.feed(chunk, this.#events);
    if (this.#events.length === 0) return;
    let batch = '';
    for (const event of this.#events) batch += `id: ${++this.#lastId}\ndata: ${event.data}\n\n`;
    this.#events.length = 0;
    if (!this.#response.write(batch)) {
      controller.pause();
      this.#response.once('drain', () => controller.resume());
    }
  }

  onResponseEnd() {
    this.#response.end();
  }

  onResponseError() {
    if (!this.#response.headersSent) this.#response.writeHead(502);
    this.#response.destroy();
  }
}

const server = createServer((request, response) => {
  if (request.method !== 'POST' || !request.url?.startsWith('/v1/chat/completions')) {
    response.writeHead(404).end();
    return;
  }
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
    const fault = request.headers['x-spool-fault'];
    if (typeof fault === 'string') headers['x-spool-fault'] = fault;
    pool.dispatch(
      { method: 'POST', path: `${pathPrefix}/chat/completions`, headers, body: Buffer.concat(chunks) },
      new RelayHandler(request, response),
    );
  });
});
server.listen(Number(values.port ?? 0), '127.0.0.1', () => {
  process.stdout.write(`Bare relay listening on http://127.0.0.1:${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

/**
 * The baseline for the spool's cost (issue 3): a bare SSE relay on the gateway's own stack —
 * node:http in, an undici Pool out, eventsource-parser in between — that numbers every event
 * `id: n` and stores nothing. No validation, routing, auth, logging or spool: what is left when the
 * gateway's extras are taken away.
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
const { createParser } = await import(gatewayRequire.resolve('eventsource-parser'));

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

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function drained(response) {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

async function relay(request, response) {
  const body = await readBody(request);
  const controller = new AbortController();
  response.on('close', () => controller.abort());
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
  const fault = request.headers['x-spool-fault'];
  if (typeof fault === 'string') headers['x-spool-fault'] = fault;
  const upstreamResponse = await pool.request({
    method: 'POST',
    path: `${pathPrefix}/chat/completions`,
    headers,
    body,
    signal: controller.signal,
  });
  if (upstreamResponse.statusCode !== 200) {
    response.writeHead(upstreamResponse.statusCode, { 'content-type': 'application/json' });
    for await (const chunk of upstreamResponse.body) response.write(chunk);
    response.end();
    return;
  }
  response.writeHead(200, SSE_HEADERS);
  request.socket.setNoDelay(true);
  let lastId = 0;
  const pending = [];
  const parser = createParser({
    onEvent: (message) => pending.push(`id: ${++lastId}\ndata: ${message.data}\n\n`),
  });
  const decoder = new TextDecoder();
  for await (const chunk of upstreamResponse.body) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    if (pending.length === 0) continue;
    const batch = pending.length === 1 ? pending[0] : pending.join('');
    pending.length = 0;
    if (!response.write(batch)) await drained(response);
  }
  response.end();
}

const server = createServer((request, response) => {
  if (request.method !== 'POST' || !request.url?.startsWith('/v1/chat/completions')) {
    response.writeHead(404).end();
    return;
  }
  relay(request, response).catch(() => {
    if (!response.headersSent) response.writeHead(502);
    response.destroy();
  });
});
server.listen(Number(values.port ?? 0), '127.0.0.1', () => {
  process.stdout.write(`Bare relay listening on http://127.0.0.1:${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

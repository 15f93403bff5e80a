/**
 * The floor under the bare relay: the same SSE relay (events renumbered `id: n`, nothing stored)
 * written on `node:net` sockets on both sides, with no node:http, no undici and no Node stream
 * machinery above the socket. HTTP/1.1 is handled only as far as this bench speaks it: one request
 * at a time per client connection with a Content-Length body, and upstream answers in chunked
 * transfer encoding from a pool of keep-alive sockets. Not a product and not a model for one (it
 * parses no more HTTP than the sim and the load generator send): a measure of what Node itself
 * costs per stream on this machine, so that a target below it is known to be out of reach of any
 * Node process.
 *
 * Usage: node bench/lib/socket-relay.mjs --upstream http://127.0.0.1:PORT/v1 [--port 0]
 * Prints `Socket relay listening on http://127.0.0.1:PORT`.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';

const { SseDecoder } = await import(
  new URL('../../packages/gateway/dist/providers/sse-decoder.js', import.meta.url)
);

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string' } } });
if (!values.upstream) throw new Error('--upstream <base URL with /v1> is required');
const upstream = new URL(values.upstream);
const upstreamPort = Number(upstream.port || 80);
const requestLine = `POST ${upstream.pathname.replace(/\/+$/, '')}/chat/completions HTTP/1.1\r\nhost: ${upstream.host}\r\ncontent-type: application/json\r\naccept: text/event-stream\r\n`;
const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const MAX_HEAD_BYTES = 16 * 1024;
const SSE_HEAD =
  'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nx-accel-buffering: no\r\ntransfer-encoding: chunked\r\n\r\n';

/** Idle keep-alive connections to the upstream; one that closes leaves the pool. */
const idle = new Set();

function upstreamSocket() {
  for (const socket of idle) {
    idle.delete(socket);
    return socket;
  }
  const socket = net.connect({ host: upstream.hostname, port: upstreamPort, noDelay: true });
  socket.on('close', () => idle.delete(socket));
  return socket;
}

/** One relayed answer: parses the upstream's head and chunked body, writes the renumbered events. */
class Relay {
  #client;
  #upstream;
  #onDone;
  #decoder = new SseDecoder();
  #events = [];
  #lastId = 0;
  #head = true;
  #carry = undefined;
  /** Bytes left of the current chunk's data; -2..-1 while its CRLF is read; 0 between chunks. */
  #chunkLeft = 0;
  #finished = false;
  #onData = (bytes) => this.#read(bytes);
  #onLost = () => this.#fail();

  constructor(client, body, fault, onDone) {
    this.#client = client;
    this.#onDone = onDone;
    const socket = upstreamSocket();
    this.#upstream = socket;
    socket.on('data', this.#onData);
    socket.on('close', this.#onLost);
    socket.on('error', this.#onLost);
    const faultHeader = fault ? `x-spool-fault: ${fault}\r\n` : '';
    socket.write(`${requestLine}${faultHeader}content-length: ${body.length}\r\n\r\n`);
    socket.write(body);
  }

  #read(bytes) {
    let data = this.#carry ? Buffer.concat([this.#carry, bytes]) : bytes;
    this.#carry = undefined;
    if (this.#head) {
      // The last CRLF of the previous answer on this pooled socket may come first.
      while (data[0] === 13 || data[0] === 10) data = data.subarray(1);
      const end = data.indexOf(HEAD_END);
      if (end < 0) {
        if (data.length > MAX_HEAD_BYTES) this.#fail();
        else this.#carry = data;
        return;
      }
      const head = data.toString('latin1', 0, end);
      if (!head.startsWith('HTTP/1.1 200') || !/\r\ntransfer-encoding: *chunked/i.test(head)) {
        this.#fail();
        return;
      }
      this.#head = false;
      this.#client.write(SSE_HEAD);
      data = data.subarray(end + HEAD_END.length);
    }
    let at = 0;
    while (at < data.length) {
      if (this.#chunkLeft > 0) {
        const take = Math.min(this.#chunkLeft, data.length - at);
        this.#decoder.feed(data.subarray(at, at + take), this.#events);
        at += take;
        this.#chunkLeft -= take;
        if (this.#chunkLeft === 0) this.#chunkLeft = -2;
      } else if (this.#chunkLeft < 0) {
        const take = Math.min(-this.#chunkLeft, data.length - at);
        at += take;
        this.#chunkLeft += take;
      } else {
        const lineEnd = data.indexOf(CRLF, at);
        if (lineEnd < 0) {
          this.#carry = data.subarray(at);
          break;
        }
        const size = Number.parseInt(data.toString('latin1', at, lineEnd), 16);
        at = lineEnd + 2;
        if (Number.isNaN(size)) {
          this.#fail();
          return;
        }
        if (size === 0) {
          this.#finish();
          return;
        }
        this.#chunkLeft = size;
      }
    }
    this.#flush('');
  }

  /** Writes the events decoded so far as one chunk, followed by `tail`. */
  #flush(tail) {
    let batch = '';
    for (const event of this.#events) batch += `id: ${++this.#lastId}\ndata: ${event.data}\n\n`;
    this.#events.length = 0;
    if (batch) this.#client.write(`${Buffer.byteLength(batch).toString(16)}\r\n${batch}\r\n${tail}`);
    else if (tail) this.#client.write(tail);
  }

  #detach() {
    this.#finished = true;
    const socket = this.#upstream;
    socket.off('data', this.#onData);
    socket.off('close', this.#onLost);
    socket.off('error', this.#onLost);
    return socket;
  }

  #finish() {
    this.#flush('0\r\n\r\n');
    const socket = this.#detach();
    // The trailer's CRLF may still be on its way: a pooled socket ignores bytes between answers.
    if (!socket.destroyed) idle.add(socket);
    this.#onDone();
  }

  /** The client left, or the upstream went away or answered something this relay does not speak: both sides are cut. */
  fail() {
    this.#fail();
  }

  #fail() {
    if (this.#finished) return;
    this.#detach().destroy();
    this.#client.destroy();
  }
}

const server = net.createServer({ noDelay: true }, (client) => {
  let pending;
  let relay;
  const take = () => {
    if (relay || !pending) return;
    const end = pending.indexOf(HEAD_END);
    if (end < 0) {
      if (pending.length > MAX_HEAD_BYTES) client.destroy();
      return;
    }
    const head = pending.toString('latin1', 0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (pending.length < end + 4 + length) return;
    const body = pending.subarray(end + 4, end + 4 + length);
    const rest = pending.subarray(end + 4 + length);
    pending = rest.length > 0 ? rest : undefined;
    if (!head.startsWith('POST /v1/chat/completions ')) {
      client.write('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      take();
      return;
    }
    const fault = /\r\nx-spool-fault: *([^\r]*)/i.exec(head)?.[1];
    relay = new Relay(client, body, fault, () => {
      relay = undefined;
      take();
    });
  };
  client.on('close', () => relay?.fail());
  client.on('data', (bytes) => {
    pending = pending ? Buffer.concat([pending, bytes]) : bytes;
    take();
  });
  client.on('error', () => {});
});
server.listen(Number(values.port ?? 0), '127.0.0.1', () => {
  process.stdout.write(`Socket relay listening on http://127.0.0.1:${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { TestkitError } from './errors.js';
import type { TargetAddress } from './proxy-connection.js';

/**
 * What a buffering middlebox holds back until the response ends: `body` (headers pass at once, the
 * body comes whole at the end: antivirus scanners, some corporate proxies) or `whole` (not even the
 * status line arrives before the end: old proxies without chunked pass-through).
 */
export type BufferMode = 'body' | 'whole';

/** Options of {@link createBufferingProxy}. */
export interface BufferingProxyOptions {
  /** Where requests are forwarded (HTTP). */
  target: TargetAddress;
  /** What is held back until each response ends. @default 'body' */
  mode?: BufferMode;
  /** Where the proxy listens. @default { host: '127.0.0.1', port: 0 } (a free port) */
  listen?: { host?: string; port?: number };
  /** Most bytes one buffered response may hold; past it the client's connection is cut. @default 16 MiB */
  maxBufferBytes?: number;
}

/** A running buffering HTTP proxy. */
export interface BufferingProxy {
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /** Responses forwarded, and how many arrived at the proxy with a body still open when released. */
  readonly stats: { requests: number; released: number };
  /** Changes the mode for requests from now on. */
  setMode(mode: BufferMode): void;
  /** Stops listening and destroys every socket. */
  close(): Promise<void>;
}

/**
 * Starts an HTTP proxy that buffers each response until it ends, as middleboxes that break
 * streaming do: an event stream reaches the client only once the whole answer exists. HTTP-level
 * (it needs each response's end), so beside the TCP fault proxy rather than one of its faults.
 *
 * @example
 * const proxy = await createBufferingProxy({ target: { host: '127.0.0.1', port }, mode: 'whole' });
 */
export async function createBufferingProxy(options: BufferingProxyOptions): Promise<BufferingProxy> {
  let mode: BufferMode = options.mode ?? 'body';
  const maxBufferBytes = options.maxBufferBytes ?? 16 * 1024 * 1024;
  const stats = { requests: 0, released: 0 };
  const sockets = new Set<Socket>();

  const forward = (incoming: IncomingMessage, outgoing: ServerResponse): void => {
    stats.requests += 1;
    const requestMode = mode;
    const upstream = httpRequest(
      {
        host: options.target.host,
        port: options.target.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (answer) => {
        const headers = { ...answer.headers };
        delete headers['transfer-encoding'];
        delete headers.connection;
        if (requestMode === 'body') {
          outgoing.writeHead(answer.statusCode ?? 502, headers);
          outgoing.flushHeaders();
        }
        const chunks: Buffer[] = [];
        let bytes = 0;
        answer.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > maxBufferBytes) {
            answer.destroy();
            outgoing.destroy();
            return;
          }
          chunks.push(chunk);
        });
        answer.on('end', () => {
          stats.released += 1;
          const body = Buffer.concat(chunks);
          if (requestMode === 'whole') {
            headers['content-length'] = String(body.length);
            outgoing.writeHead(answer.statusCode ?? 502, headers);
          }
          outgoing.end(body);
        });
        // A response cut upstream is cut downstream: what was held is lost, as behind a real buffer.
        answer.on('error', () => outgoing.destroy());
        answer.on('aborted', () => outgoing.destroy());
      },
    );
    upstream.on('error', () => outgoing.destroy());
    incoming.pipe(upstream);
    outgoing.on('close', () => {
      if (!outgoing.writableFinished) upstream.destroy();
    });
  };

  const server = createServer(forward);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listenHost = options.listen?.host ?? '127.0.0.1';
  const listenPort = options.listen?.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new TestkitError(
          'listen_failed',
          `buffering proxy could not listen on ${listenHost}:${listenPort}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    server.listen(listenPort, listenHost, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${port}`,
    get stats() {
      return { ...stats };
    },
    setMode(next) {
      mode = next;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

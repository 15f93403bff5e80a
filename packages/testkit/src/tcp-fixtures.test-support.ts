import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/** A loopback TCP server for tests that destroys its sockets on close. */
export interface TestServer {
  port: number;
  /** Every socket the server accepted, in order. */
  sockets: Socket[];
  close(): Promise<void>;
}

/** Starts a loopback server that hands each accepted socket to `handle`. */
export async function startTcpServer(handle: (socket: Socket) => void): Promise<TestServer> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Echoes what it reads and ends when the client ends. */
export function echo(socket: Socket): void {
  socket.pipe(socket);
}

/** Writes `payload` as soon as a client connects, then ends. */
export function sendOnConnect(payload: Buffer | string): (socket: Socket) => void {
  return (socket) => {
    socket.end(payload);
  };
}

/** A test client that records everything it receives. */
export interface TestClient {
  socket: Socket;
  received(): Buffer;
  /** Resolves once at least `bytes` bytes have arrived. */
  untilReceived(bytes: number): Promise<Buffer>;
  /** Resolves on 'close' with everything received and whether an error (reset) was seen. */
  closed: Promise<{ bytes: Buffer; error: NodeJS.ErrnoException | undefined }>;
}

/** Connects to a loopback port, optionally sends `payload` and ends its write side. */
export function connectClient(
  port: number,
  options: { send?: Buffer | string; end?: boolean } = {},
): TestClient {
  const socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  let total = 0;
  let error: NodeJS.ErrnoException | undefined;
  const waiting: { bytes: number; resolve: (data: Buffer) => void }[] = [];
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    total += chunk.length;
    for (const waiter of [...waiting]) {
      if (total < waiter.bytes) continue;
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve(Buffer.concat(chunks));
    }
  });
  socket.on('error', (socketError) => {
    error = socketError;
  });
  const closed = new Promise<{ bytes: Buffer; error: NodeJS.ErrnoException | undefined }>((resolve) => {
    socket.on('close', () => resolve({ bytes: Buffer.concat(chunks), error }));
  });
  if (options.send !== undefined) socket.write(options.send);
  if (options.end) socket.end();
  return {
    socket,
    received: () => Buffer.concat(chunks),
    untilReceived: (bytes) =>
      total >= bytes
        ? Promise.resolve(Buffer.concat(chunks))
        : new Promise((resolve, reject) => {
            waiting.push({ bytes, resolve });
            void closed.then(() => reject(new Error(`closed after ${total} bytes, before ${bytes}`)));
          }),
    closed,
  };
}

/** `length` bytes of a repeating, position-revealing pattern (0-9a-z). */
export function patternBytes(length: number): Buffer {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return Buffer.from(Array.from({ length }, (_, index) => alphabet[index % alphabet.length]).join(''));
}

import { connect, type Socket } from 'node:net';

/** The first response read off a raw connection: status, head lines and its body (when it has a length). */
interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/** A raw TCP connection to a server, for requests node:http would refuse to send. */
export interface RawConnection {
  socket: Socket;
  /** Resolves with the first response once its head (and a `Content-Length` body) is in. */
  answer: Promise<RawAnswer>;
  /** Resolves with the first response's status once its head is in (a HEAD answer has no body). */
  status: Promise<number>;
  /** Resolves when the server ends or closes the connection. */
  closed: Promise<void>;
}

/** Opens a connection and sends `bytes` (a request, or its beginning). */
export async function openRaw(port: number, bytes: string | Buffer = ''): Promise<RawConnection> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = Buffer.alloc(0);
  const closed = new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.once('close', () => resolve());
  });
  let headIn: (status: number) => void = () => {};
  const status = new Promise<number>((resolve) => {
    headIn = resolve;
  });
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    const tryParse = () => {
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const head = received.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
      headIn(status);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      const body = received.subarray(end + 4);
      if (length && body.length < Number(length[1])) return false;
      resolve({ status, head, body: body.subarray(0, length ? Number(length[1]) : 0).toString('utf8') });
      return true;
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (tryParse()) socket.off('data', onData);
    };
    socket.on('data', onData);
    void closed.then(() => {
      if (!tryParse()) reject(new Error(`connection closed without a response: ${received.toString()}`));
    });
  });
  answer.catch(() => {});
  if (bytes.length > 0) socket.write(bytes);
  return { socket, answer, status, closed };
}

/** The head of a POST to the chat route with a declared body length (or chunked, without one). */
export function postHead(
  length: number | 'chunked',
  headers: Record<string, string> = {},
  path = '/v1/chat/completions',
): string {
  const lines = [
    `POST ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** One chunk of a chunked body. */
export function chunk(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
}

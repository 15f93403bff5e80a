import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';

/**
 * Reads a request body up to `limitBytes`: a declared `Content-Length` over the limit is refused
 * before reading, and a chunked body is cut off as soon as it passes the limit.
 */
export function readBody(request: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    request.resume();
    return Promise.reject(tooLarge(limitBytes));
  }
  // Events rather than `for await`: an async iterator over the request costs an iterator, its
  // end-of-stream watcher and a promise per chunk on every request, for a body of one chunk.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limitBytes) {
        done();
        request.resume();
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
    };
    const onClose = () => {
      done();
      reject(
        Object.assign(new Error('The client closed the connection before its body ended.'), {
          code: 'ECONNRESET',
        }),
      );
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const done = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('close', onClose);
      request.off('error', onError);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('close', onClose);
    request.on('error', onError);
  });
}

function tooLarge(limitBytes: number): GatewayError {
  return GatewayError.of(
    'request_too_large',
    `Request body is larger than ${limitBytes} bytes (server.bodyLimitBytes).`,
  );
}

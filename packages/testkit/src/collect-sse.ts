import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Options of {@link collectSse}. */
export interface CollectSseInit {
  /** @default 'GET' */
  method?: string;
  /** @default {} */
  headers?: OutgoingHttpHeaders;
  /** Request body; a plain object is sent as JSON with `Content-Type: application/json`. @default undefined */
  body?: string | Buffer | Record<string, unknown>;
  /** Stop reading once the text so far satisfies this (for live streams that never end). @default undefined */
  until?: (textSoFar: string) => boolean;
  /** Aborts the request; what arrived before is returned. @default undefined */
  signal?: AbortSignal;
}

/** A response as it came off the wire, for framing tests. */
export interface CollectedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body exactly as received (UTF-8), partial if the stream was cut or stopped. */
  text: string;
  /** True only if the body ended the way HTTP says it should (no cut, no early stop). */
  complete: boolean;
}

/**
 * Makes one request with node:http (a fresh connection, no keep-alive pool) and returns the raw
 * response text, headers and status. A connection cut mid-body resolves with what arrived and
 * `complete: false` instead of rejecting; failing before any response rejects with the socket error.
 *
 * @example
 * const response = await collectSse(`${proxy.url}/v1/chat/completions`, { method: 'POST', body: { model, messages, stream: true } });
 * expect(response.text).toMatch(/^id: 1\n/);
 */
export function collectSse(url: string | URL, init: CollectSseInit = {}): Promise<CollectedResponse> {
  const target = new URL(url);
  const headers: OutgoingHttpHeaders = { ...init.headers };
  let body: string | Buffer | undefined;
  if (init.body === undefined || typeof init.body === 'string' || Buffer.isBuffer(init.body))
    body = init.body;
  else {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = request(target, {
      method: init.method ?? 'GET',
      headers,
      agent: false,
      signal: init.signal,
    });
    outgoing.on('error', reject);
    outgoing.on('response', (response) => {
      const chunks: Buffer[] = [];
      let stoppedEarly = false;
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (init.until?.(Buffer.concat(chunks).toString('utf8'))) {
          stoppedEarly = true;
          outgoing.destroy();
        }
      });
      // A cut mid-body surfaces as an 'aborted' error; the partial body is the result.
      response.on('error', () => {});
      response.on('close', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          text: Buffer.concat(chunks).toString('utf8'),
          complete: response.complete && !stoppedEarly,
        }),
      );
    });
    if (body !== undefined) outgoing.write(body);
    outgoing.end();
  });
}

import type { Transport, TransportResponse } from './transport.js';

/** The `fetch` signature the fetch transport needs (the global one, undici's, or a wrapper). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/**
 * A transport over streaming `fetch` (browsers, Node ≥ 18, Deno, Bun, workers).
 * @param fetchImpl defaults to the global `fetch`, looked up per request so polyfills installed later count.
 */
export function createFetchTransport(fetchImpl?: FetchLike): Transport {
  return async (request) => {
    const doFetch = fetchImpl ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init));
    const response = await doFetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: request.signal,
    });
    return toTransportResponse(response);
  };
}

/** Reads a `fetch` Response as a {@link TransportResponse}: its body decoded as UTF-8 text, chunk by chunk. */
export function toTransportResponse(response: Response): TransportResponse {
  return {
    status: response.status,
    headers: response.headers,
    async read(onChunk) {
      if (!response.body) {
        // Runtimes without streaming bodies: the whole text arrives at once.
        const text = await response.text();
        onChunk(text, new TextEncoder().encode(text).byteLength);
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (onChunk(decoder.decode(value, { stream: true }), value.byteLength) === false) {
            await reader.cancel().catch(() => {});
            return;
          }
        }
        const tail = decoder.decode();
        if (tail !== '') onChunk(tail, 0);
      } finally {
        reader.releaseLock();
      }
    },
  };
}

/** Whether this runtime's `fetch` can stream a response body (React Native's cannot). */
export function fetchCanStream(): boolean {
  return (
    typeof globalThis.fetch === 'function' &&
    typeof globalThis.ReadableStream === 'function' &&
    typeof globalThis.Response === 'function' &&
    'body' in globalThis.Response.prototype
  );
}

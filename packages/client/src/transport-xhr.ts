import { NetworkError } from './errors.js';
import { type ChunkHandler, type Transport, utf8ByteLength } from './transport.js';

/** The part of `XMLHttpRequest` the XHR transport uses (React Native's and browsers' both fit). */
export interface XhrLike {
  readonly readyState: number;
  readonly status: number;
  readonly responseText: string;
  open(method: string, url: string, async: boolean): void;
  setRequestHeader(name: string, value: string): void;
  getResponseHeader(name: string): string | null;
  send(body?: string | null): void;
  abort(): void;
  onreadystatechange: (() => void) | null;
  onprogress: (() => void) | null;
  onerror: (() => void) | null;
  ontimeout?: (() => void) | null;
}

/** A constructor of {@link XhrLike} objects, e.g. the global `XMLHttpRequest`. */
export type XhrConstructor = new () => XhrLike;

const HEADERS_RECEIVED = 2;
const DONE = 4;

/**
 * A transport over `XMLHttpRequest` progress events, for React Native and browsers without streaming
 * fetch. It keeps an offset into `responseText` so each progress event costs only the new text.
 */
export function createXhrTransport(XhrClass?: XhrConstructor): Transport {
  return (request) =>
    new Promise((resolve, reject) => {
      const Constructor = XhrClass ?? (globalThis as { XMLHttpRequest?: XhrConstructor }).XMLHttpRequest;
      if (!Constructor) {
        reject(
          new NetworkError('No XMLHttpRequest in this runtime; use `transport: "fetch"`.', {
            retryable: false,
          }),
        );
        return;
      }
      const xhr = new Constructor();
      let offset = 0;
      let headersSettled = false;
      let ended = false;
      let failure: unknown;
      let reader:
        | { onChunk: ChunkHandler; resolve: () => void; reject: (error: unknown) => void }
        | undefined;

      const flush = () => {
        if (!reader || !headersSettled) return;
        const text = xhr.responseText ?? '';
        if (text.length > offset) {
          const chunk = text.slice(offset);
          offset = text.length;
          if (reader.onChunk(chunk, utf8ByteLength(chunk)) === false) {
            const done = reader;
            reader = undefined;
            detach();
            xhr.abort();
            done.resolve();
            return;
          }
        }
        if (failure !== undefined) reader.reject(failure);
        else if (ended) reader.resolve();
      };
      const fail = (error: unknown) => {
        if (failure !== undefined || ended) return;
        failure = error;
        detach();
        if (!headersSettled) {
          headersSettled = true;
          reject(error);
        } else flush();
      };
      const onAbort = () => {
        fail(request.signal.reason);
        xhr.abort();
      };
      const detach = () => request.signal.removeEventListener('abort', onAbort);

      xhr.onreadystatechange = () => {
        if (xhr.readyState >= HEADERS_RECEIVED && !headersSettled && xhr.status !== 0) {
          headersSettled = true;
          resolve({
            status: xhr.status,
            headers: { get: (name) => xhr.getResponseHeader(name) },
            read(onChunk) {
              return new Promise<void>((resolveRead, rejectRead) => {
                reader = { onChunk, resolve: resolveRead, reject: rejectRead };
                flush();
              });
            },
          });
        }
        if (xhr.readyState === DONE) {
          if (xhr.status === 0) {
            fail(new NetworkError(`Network error while requesting ${request.url}.`));
            return;
          }
          ended = true;
          detach();
          flush();
        }
      };
      xhr.onprogress = flush;
      xhr.onerror = () => fail(new NetworkError(`Network error while requesting ${request.url}.`));
      xhr.ontimeout = () => fail(new NetworkError(`Request to ${request.url} timed out.`));

      if (request.signal.aborted) {
        reject(request.signal.reason);
        return;
      }
      request.signal.addEventListener('abort', onAbort, { once: true });
      xhr.open(request.method, request.url, true);
      for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
      xhr.send(request.body ?? null);
    });
}

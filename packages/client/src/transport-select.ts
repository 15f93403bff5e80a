import { memoizeImport } from './lazy-import.js';
import type { Transport } from './transport.js';
import { type BufferDetectionOptions, withLongPollFallback } from './transport-auto-fallback.js';
import { createFetchTransport, type FetchLike, fetchCanStream } from './transport-fetch.js';
import type { XhrConstructor } from './transport-xhr.js';

/** Which transport carries requests: a name, or a transport of your own. */
export type TransportOption = 'auto' | 'fetch' | 'xhr' | 'long-poll' | Transport;

/** The inputs of {@link selectTransport}. */
export interface TransportSelection {
  /** @default 'auto' */
  transport?: TransportOption;
  fetch?: FetchLike;
  XMLHttpRequest?: XhrConstructor;
  /**
   * Under `'auto'`: how a buffering network is detected (then the stream is read by long-poll),
   * or `false` to never fall back. @default see `BufferDetectionOptions`
   */
  bufferDetection?: BufferDetectionOptions | false;
}

/**
 * Resolves the transport option: under `'auto'`, streaming fetch when given a `fetch` or when the
 * runtime's fetch can stream bodies, else XMLHttpRequest (React Native, old browsers), either one
 * falling back to long-poll reads when the network buffers the stream (`withLongPollFallback`). The XHR
 * and long-poll transports are imported on their first request, so bundlers put it in a chunk of its own that
 * runtimes with streaming fetch never load.
 */
export function selectTransport(options: TransportSelection): Transport {
  const choice = options.transport ?? 'auto';
  if (typeof choice === 'function') return choice;
  if (choice === 'long-poll') return lazyLongPollTransport(options.fetch);
  const streaming = selectStreamingTransport(options);
  if (choice !== 'auto' || options.bufferDetection === false) return streaming;
  return withLongPollFallback(streaming, lazyLongPollTransport(options.fetch), options.bufferDetection);
}

function selectStreamingTransport(options: TransportSelection): Transport {
  const choice = options.transport ?? 'auto';
  if (choice === 'fetch' || (choice === 'auto' && (options.fetch || fetchCanStream())))
    return createFetchTransport(options.fetch);
  if (choice === 'xhr' || options.XMLHttpRequest || 'XMLHttpRequest' in globalThis)
    return lazyXhrTransport(options.XMLHttpRequest);
  return createFetchTransport();
}

const loadXhrTransport = memoizeImport(() => import('./transport-xhr.js'));
const loadLongPollTransport = memoizeImport(() => import('./transport-long-poll.js'));

/** The long-poll transport, loaded on its first request (most networks never need it). */
function lazyLongPollTransport(fetchImpl: FetchLike | undefined): Transport {
  return async (request) =>
    (await loadLongPollTransport()).createLongPollTransport({ fetch: fetchImpl })(request);
}

function lazyXhrTransport(XhrClass: XhrConstructor | undefined): Transport {
  return async (request) => (await loadXhrTransport()).createXhrTransport(XhrClass)(request);
}

import { memoizeImport } from './lazy-import.js';
import type { Transport } from './transport.js';
import { createFetchTransport, type FetchLike, fetchCanStream } from './transport-fetch.js';
import type { XhrConstructor } from './transport-xhr.js';

/** Which transport carries requests: a name, or a transport of your own. */
export type TransportOption = 'auto' | 'fetch' | 'xhr' | Transport;

/** The inputs of {@link selectTransport}. */
export interface TransportSelection {
  /** @default 'auto' */
  transport?: TransportOption;
  fetch?: FetchLike;
  XMLHttpRequest?: XhrConstructor;
}

/**
 * Resolves the transport option: under `'auto'`, streaming fetch when given a `fetch` or when the
 * runtime's fetch can stream bodies, else XMLHttpRequest (React Native, old browsers). The XHR
 * transport is imported on its first request, so bundlers put it in a chunk of its own that
 * runtimes with streaming fetch never load.
 */
export function selectTransport(options: TransportSelection): Transport {
  const choice = options.transport ?? 'auto';
  if (typeof choice === 'function') return choice;
  if (choice === 'fetch' || (choice === 'auto' && (options.fetch || fetchCanStream())))
    return createFetchTransport(options.fetch);
  if (choice === 'xhr' || options.XMLHttpRequest || 'XMLHttpRequest' in globalThis)
    return lazyXhrTransport(options.XMLHttpRequest);
  return createFetchTransport();
}

const loadXhrTransport = memoizeImport(() => import('./transport-xhr.js'));

function lazyXhrTransport(XhrClass: XhrConstructor | undefined): Transport {
  return async (request) => (await loadXhrTransport()).createXhrTransport(XhrClass)(request);
}

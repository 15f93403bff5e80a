import type { Transport } from './transport.js';
import { createFetchTransport, type FetchLike, fetchCanStream } from './transport-fetch.js';
import { createXhrTransport, type XhrConstructor } from './transport-xhr.js';

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
 * runtime's fetch can stream bodies, else XMLHttpRequest (React Native, old browsers).
 */
export function selectTransport(options: TransportSelection): Transport {
  const choice = options.transport ?? 'auto';
  if (typeof choice === 'function') return choice;
  if (choice === 'fetch') return createFetchTransport(options.fetch);
  if (choice === 'xhr') return createXhrTransport(options.XMLHttpRequest);
  if (options.fetch || fetchCanStream()) return createFetchTransport(options.fetch);
  if (options.XMLHttpRequest || 'XMLHttpRequest' in globalThis)
    return createXhrTransport(options.XMLHttpRequest);
  return createFetchTransport();
}

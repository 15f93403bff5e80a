import type { TransportRequest } from './transport.js';

/** Whether a URL names one stream (`…/streams/{id}`), the resume target of the engine. */
export function isStreamUrl(url: string): boolean {
  return /\/streams\/[^/?#]+$/.test(new URL(url).pathname);
}

/**
 * Whether the long-poll transport would read a request by long-poll (a stream-starting POST or a
 * stream resume `GET`); apart from the transport so `'auto'` decides without loading it.
 */
export function isLongPollable(request: Pick<TransportRequest, 'method' | 'url' | 'longPollUrl'>): boolean {
  return (
    request.method === 'POST' ||
    (request.method === 'GET' && (request.longPollUrl !== undefined || isStreamUrl(request.url)))
  );
}

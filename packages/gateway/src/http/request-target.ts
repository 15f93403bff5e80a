import { GatewayError } from '../errors.js';

/** A request target, parsed: its path (still percent-encoded) and its query. */
export interface RequestTarget {
  /** The path with dot segments resolved, percent-encoding kept (`/v1/streams/str_…`). */
  path: string;
  query: URLSearchParams;
}

/**
 * Parses what a client put after the method on its request line. Never throws anything but a
 * 400: the target is the client's to get wrong (`//a:b`, `*`, `http://[`), and an exception here
 * would otherwise escape the request handler.
 * Origin-form (`/path?query`) is read as a path on this server even when it starts with `//`
 * (RFC 9112 §3.2.1), which `new URL(target, base)` would take for a host; absolute-form is accepted
 * as proxies send it, its authority ignored.
 */
export function parseRequestTarget(target: string | undefined): RequestTarget {
  const raw = target ?? '/';
  let url: URL;
  try {
    url = raw.startsWith('/') ? new URL(`http://gateway${raw}`) : new URL(raw);
  } catch (error) {
    throw GatewayError.of('invalid_request', 'The request target is not a valid path.', { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw GatewayError.of('invalid_request', 'The request target is not a valid path.');
  }
  return { path: url.pathname, query: url.searchParams };
}

/**
 * Decodes one percent-encoded path segment; malformed encoding (`%`, `%E0%A4%A`) is the client's
 * error (400), not an exception.
 */
export function decodePathSegment(segment: string, param: string): string {
  try {
    return decodeURIComponent(segment);
  } catch (error) {
    throw GatewayError.of('invalid_request', `Malformed percent-encoding in the request path (${param}).`, {
      param,
      cause: error,
    });
  }
}

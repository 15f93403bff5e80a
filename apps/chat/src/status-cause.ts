/**
 * Why the chat page is waiting or failed, in words: a pure function of the failure (its code,
 * HTTP status and error body) and what the page knows of its network, so the status bar never
 * shows a bare code or a countdown without its cause.
 */

/** The failure as the page sees it: a `SpoolClientError` or a retry's reason. */
export interface FailureLike {
  code: string;
  status?: number | undefined;
  /** An `HttpError`'s parsed body; `error.provider` is set on an upstream's own refusal. */
  body?: unknown;
}

/** What the page knows besides the failure. */
export interface NetworkFacts {
  /** `navigator.onLine`. */
  online: boolean;
  /** A cross-origin gateway answered a no-CORS probe: it is up, so the browser blocked the answers. */
  corsBlocked: boolean;
  /** Some of the answer has arrived (a network error is then a dropped connection). */
  answerStarted: boolean;
}

/** How the status bar is tinted: `offline` and `error` look different, not only a dot's colour. */
export type StatusTone = 'ok' | 'busy' | 'waiting' | 'offline' | 'error';

/** The cause of a failure in words, and the code to show as detail. */
export interface FailureCause {
  text: string;
  /** The machine-readable code, with the HTTP status when there was one. */
  detail: string;
}

const GATEWAY_RATE_LIMIT_CODES = new Set([
  'rate_limit_exceeded',
  'tokens_limit_exceeded',
  'concurrency_limit_exceeded',
]);

/** The provider named in an error body (`{"error": {"provider": …}}`), when there is one. */
function providerOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const provider = (error as { provider?: unknown }).provider;
  return typeof provider === 'string' && provider !== '' ? provider : undefined;
}

/** Says why a request failed or waits, for people; the code stays as detail. */
export function describeFailure(failure: FailureLike, facts: NetworkFacts): FailureCause {
  const detail = failure.status === undefined ? failure.code : `${failure.code}, HTTP ${failure.status}`;
  const provider = providerOf(failure.body);
  const text = (() => {
    if (!facts.online) return 'Offline';
    switch (failure.code) {
      case 'network_error':
        if (facts.corsBlocked) return "Blocked by CORS: add this page's origin to the gateway's cors.origins";
        return facts.answerStarted ? 'The connection dropped' : 'The gateway is unreachable';
      case 'idle_timeout':
        return 'The connection stalled';
      case 'upstream_unreachable':
        return "The model's server is unreachable";
      case 'upstream_timeout':
        return "The model's server timed out";
      case 'upstream_busy':
        return "The model's server is busy";
      case 'shutting_down':
        return 'The gateway is restarting';
      case 'store_unavailable':
        return "The gateway's stream store is unavailable";
      case 'origin_not_allowed':
        return "Blocked by CORS: add this page's origin to the gateway's cors.origins";
    }
    if (failure.status === 429) {
      if (provider !== undefined) return `Rate limited by the model's provider (${provider})`;
      if (GATEWAY_RATE_LIMIT_CODES.has(failure.code)) return 'Rate limited by the gateway';
      return 'Rate limited';
    }
    if (failure.status === 401) return 'The gateway refused the API key';
    if (failure.status === 403) return 'This key may not use this model';
    if (failure.status !== undefined && failure.status >= 500)
      return provider !== undefined ? `The model's provider (${provider}) failed` : 'The gateway failed';
    return 'The answer failed';
  })();
  return { text, detail };
}

import { type FetchLike, NetworkError } from '@spool/client';

/** A fetch the page hands to its chat store, and the drill's handle on the request under way. */
export interface CuttableFetch {
  /** Fetches as `base` does, each request also abortable by {@link CuttableFetch.cut}. */
  fetch: FetchLike;
  /**
   * Drops the latest request from the page's side, as a network failure would (the client then
   * reconnects and resumes). @returns whether there was a request under way to cut
   */
  cut(): boolean;
}

/**
 * The network drill's "cut now": wraps `base` (the global fetch by default) so the page can abort the
 * request under way. Production code never sees it; the page passes it to `useChat` as `client.fetch`.
 */
export function createCuttableFetch(
  base: FetchLike = (url, init) => globalThis.fetch(url, init),
): CuttableFetch {
  let current: AbortController | undefined;
  return {
    fetch: (input, init) => {
      const controller = new AbortController();
      current = controller;
      const signal = init.signal ? anySignal(init.signal, controller.signal) : controller.signal;
      return base(input, { ...init, signal });
    },
    cut: () => {
      if (!current || current.signal.aborted) return false;
      current.abort(new NetworkError('Connection cut on purpose (network drill).', { code: 'drill_cut' }));
      return true;
    },
  };
}

/** Aborts when either signal does (`AbortSignal.any` where the runtime has it: Safari < 17.4 does not). */
function anySignal(first: AbortSignal, second: AbortSignal): AbortSignal {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([first, second]);
  const controller = new AbortController();
  for (const signal of [first, second]) {
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}

import { useEffect, useState, useSyncExternalStore } from 'react';

function subscribeOnline(onChange: () => void): () => void {
  window.addEventListener('online', onChange);
  window.addEventListener('offline', onChange);
  return () => {
    window.removeEventListener('online', onChange);
    window.removeEventListener('offline', onChange);
  };
}

/** `navigator.onLine`, re-rendered on its `online` / `offline` events. */
export function useOnline(): boolean {
  return useSyncExternalStore(
    subscribeOnline,
    () => navigator.onLine,
    () => true,
  );
}

/**
 * Whether a cross-origin gateway is up although the page's requests to it fail: a browser shows a
 * CORS refusal to a page as a plain network error, but a `no-cors` request, whose answer the page
 * may not read, still succeeds when the server answered. Probed only while `suspect` (a network
 * error while online) holds.
 */
export function useCorsBlocked(baseURL: string, suspect: boolean): boolean {
  const [blocked, setBlocked] = useState(false);
  useEffect(() => {
    setBlocked(false);
    if (!suspect || new URL(baseURL, window.location.href).origin === window.location.origin) return;
    let current = true;
    fetch(`${baseURL}/models`, { mode: 'no-cors', cache: 'no-store' }).then(
      () => current && setBlocked(true),
      () => current && setBlocked(false),
    );
    return () => {
      current = false;
    };
  }, [baseURL, suspect]);
  return suspect && blocked;
}

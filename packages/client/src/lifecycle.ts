/** A change in the environment that matters to a reconnecting stream. */
export type LifecycleEvent = 'online' | 'offline' | 'visible' | 'hidden';

/**
 * Where the client learns about connectivity and page visibility. The default reads `navigator.onLine`
 * and `online`/`offline`/`visibilitychange` events when the runtime has them; React Native apps can
 * wire NetInfo and AppState into {@link createManualLifecycle}.
 */
export interface LifecycleSource {
  /** Whether the device believes it is online. */
  isOnline(): boolean;
  /** Calls `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: (event: LifecycleEvent) => void): () => void;
}

interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/** The runtime's own signals: browsers have them, Node/Deno/Bun mostly do not (then: always online). */
export function globalLifecycle(): LifecycleSource {
  const scope = globalThis as {
    navigator?: { onLine?: boolean };
    document?: EventTargetLike & { visibilityState?: string };
  } & Partial<EventTargetLike>;
  return {
    isOnline: () => scope.navigator?.onLine !== false,
    subscribe(listener) {
      const online = () => listener('online');
      const offline = () => listener('offline');
      const visibility = () => listener(scope.document?.visibilityState === 'hidden' ? 'hidden' : 'visible');
      const target = typeof scope.addEventListener === 'function' ? (scope as EventTargetLike) : undefined;
      target?.addEventListener('online', online);
      target?.addEventListener('offline', offline);
      scope.document?.addEventListener('visibilitychange', visibility);
      return () => {
        target?.removeEventListener('online', online);
        target?.removeEventListener('offline', offline);
        scope.document?.removeEventListener('visibilitychange', visibility);
      };
    },
  };
}

/** A {@link LifecycleSource} driven by hand: for tests, React Native (NetInfo/AppState) or custom signals. */
export interface ManualLifecycle extends LifecycleSource {
  /** Reports connectivity; `true` wakes waiting reconnects at once. */
  setOnline(online: boolean): void;
  /** Reports page/app visibility. */
  setVisible(visible: boolean): void;
}

/**
 * Creates a {@link ManualLifecycle}.
 * @example
 * const lifecycle = createManualLifecycle();
 * NetInfo.addEventListener((state) => lifecycle.setOnline(Boolean(state.isConnected)));
 */
export function createManualLifecycle(initiallyOnline = true): ManualLifecycle {
  let online = initiallyOnline;
  const listeners = new Set<(event: LifecycleEvent) => void>();
  const emit = (event: LifecycleEvent) => {
    for (const listener of [...listeners]) listener(event);
  };
  return {
    isOnline: () => online,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setOnline(next) {
      online = next;
      emit(next ? 'online' : 'offline');
    },
    setVisible(visible) {
      emit(visible ? 'visible' : 'hidden');
    },
  };
}

/** How {@link waitForReconnect} should wait. */
export interface WaitOptions {
  delayMs: number;
  signal: AbortSignal;
  lifecycle: LifecycleSource;
  /** Whether the page becoming visible ends the wait early. */
  wakeOnVisible: boolean;
  /** Called with the time spent offline once the wait ends. */
  onOfflineTime?: (offlineMs: number) => void;
}

/**
 * Waits out a backoff delay, but never while offline: an `online` event (or `visible`, if asked) ends
 * the wait at once, and a delay that ran out while offline holds until the device is back online.
 * Rejects with the signal's reason when aborted.
 */
export function waitForReconnect(options: WaitOptions): Promise<void> {
  const { signal, lifecycle } = options;
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let delayOver = options.delayMs <= 0;
    let offlineSince = lifecycle.isOnline() ? undefined : Date.now();
    let offlineMs = 0;
    const cleanup = () => {
      clearTimeout(timer);
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
    };
    const settle = () => {
      if (!delayOver || !lifecycle.isOnline()) return;
      cleanup();
      if (offlineSince !== undefined) offlineMs += Date.now() - offlineSince;
      options.onOfflineTime?.(offlineMs);
      resolve();
    };
    const onAbort = () => {
      cleanup();
      reject(signal.reason);
    };
    const unsubscribe = lifecycle.subscribe((event) => {
      if (event === 'offline' && offlineSince === undefined) offlineSince = Date.now();
      if (event === 'online') {
        if (offlineSince !== undefined) offlineMs += Date.now() - offlineSince;
        offlineSince = undefined;
        delayOver = true;
      }
      if (event === 'visible' && options.wakeOnVisible) delayOver = true;
      settle();
    });
    const timer = delayOver
      ? undefined
      : setTimeout(() => {
          delayOver = true;
          settle();
        }, options.delayMs);
    signal.addEventListener('abort', onAbort, { once: true });
    settle();
  });
}

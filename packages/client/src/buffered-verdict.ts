/** How long an origin found to buffer event streams is read by long-poll from the start. @default 30 min */
const BUFFERED_VERDICT_TTL_MS = 30 * 60_000;

const STORAGE_PREFIX = 'spool:buffered:';

/** The subset of `localStorage` the verdicts need. */
export interface VerdictStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Remembers, per origin, that the network on the way buffers event streams, until a deadline: in
 * memory, and in `localStorage` when there is one, so the next page load starts in long-poll too.
 * A pure core over a clock and a storage, so tests need neither timers nor a browser.
 */
export class BufferedVerdicts {
  readonly #until = new Map<string, number>();
  readonly #now: () => number;
  readonly #storage: VerdictStorage | undefined;

  constructor(options: { now?: () => number; storage?: VerdictStorage | null } = {}) {
    this.#now = options.now ?? Date.now;
    this.#storage = options.storage === null ? undefined : (options.storage ?? defaultStorage());
  }

  /** Records that `origin` buffered a stream; it is read by long-poll for `ttlMs`. */
  remember(origin: string, ttlMs = BUFFERED_VERDICT_TTL_MS): void {
    const until = this.#now() + ttlMs;
    this.#until.set(origin, until);
    try {
      this.#storage?.setItem(STORAGE_PREFIX + origin, String(until));
    } catch {
      // A full or forbidden storage (private mode) only loses the verdict across page loads.
    }
  }

  /** Whether `origin` was found to buffer streams and the verdict still holds. */
  isBuffered(origin: string): boolean {
    let until = this.#until.get(origin);
    if (until === undefined) {
      try {
        const stored = this.#storage?.getItem(STORAGE_PREFIX + origin);
        until = stored ? Number(stored) : undefined;
      } catch {
        until = undefined;
      }
      if (until !== undefined && Number.isFinite(until)) this.#until.set(origin, until);
    }
    if (until === undefined || !Number.isFinite(until)) return false;
    if (this.#now() < until) return true;
    this.forget(origin);
    return false;
  }

  /** Drops the verdict for `origin`. */
  forget(origin: string): void {
    this.#until.delete(origin);
    try {
      this.#storage?.removeItem(STORAGE_PREFIX + origin);
    } catch {
      // As in remember.
    }
  }
}

function defaultStorage(): VerdictStorage | undefined {
  try {
    const storage = (globalThis as { localStorage?: VerdictStorage }).localStorage;
    return storage && typeof storage.getItem === 'function' ? storage : undefined;
  } catch {
    return undefined;
  }
}

/** The verdicts every client in this JavaScript realm shares. */
export const sharedBufferedVerdicts = new BufferedVerdicts();

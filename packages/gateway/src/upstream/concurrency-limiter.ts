import { GatewayError } from '../errors.js';

/**
 * Bounds the requests in flight to one upstream (a streamed request holds its slot until its last
 * event), queueing the rest in arrival order for at most `queueTimeoutMs`, so a burst never opens
 * unbounded sockets to a provider.
 */
export class ConcurrencyLimiter {
  #inFlight = 0;
  readonly #queue: Array<{ grant: () => void }> = [];

  constructor(
    readonly name: string,
    private readonly maxConcurrent: number,
    private readonly queueTimeoutMs: number,
  ) {}

  /** Requests holding a slot now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests waiting for a slot now. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Waits for a slot; resolves with its release function (idempotent). */
  async acquire(signal: AbortSignal): Promise<() => void> {
    if (this.#inFlight < this.maxConcurrent && this.#queue.length === 0) {
      this.#inFlight++;
      return this.#releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        grant: () => {
          cleanup();
          resolve();
        },
      };
      const timer = setTimeout(() => {
        cleanup(true);
        reject(
          GatewayError.of(
            'upstream_busy',
            `Upstream "${this.name}" has ${this.maxConcurrent} requests in flight and this one waited ${this.queueTimeoutMs} ms for a slot.`,
            { retryAfterSeconds: 1 },
          ),
        );
      }, this.queueTimeoutMs);
      const onAbort = () => {
        cleanup(true);
        reject(signal.reason);
      };
      const cleanup = (remove = false) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (remove) {
          const index = this.#queue.indexOf(entry);
          if (index >= 0) this.#queue.splice(index, 1);
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(entry);
    });
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      // The slot passes straight to the next waiter, so in-flight never exceeds the bound.
      if (next) next.grant();
      else this.#inFlight--;
    };
  }
}

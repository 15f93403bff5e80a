import { AbortError } from './errors.js';

/** Limits shared by every stream of one client. */
export interface SchedulerOptions {
  /**
   * Streams allowed to run at once; the rest wait in FIFO order.
   * @default Infinity
   */
  maxConcurrent?: number;
  /**
   * Stream starts allowed in any sliding 60 s window.
   * @default Infinity
   */
  requestsPerMinute?: number;
}

/** Admission control: `acquire` resolves with a `release` function once a stream may start. */
export interface Scheduler {
  /** Waits for a slot in FIFO order; rejects with `AbortError` if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void>;
  /** Streams running now. */
  readonly active: number;
  /** Streams waiting. */
  readonly waiting: number;
}

const WINDOW_MS = 60_000;

/**
 * How long until another start fits under `requestsPerMinute`, given recent start times (ascending).
 * Pure: 0 when a start is allowed now.
 */
export function rateLimitDelayMs(
  startTimes: readonly number[],
  nowMs: number,
  requestsPerMinute: number,
): number {
  if (!Number.isFinite(requestsPerMinute)) return 0;
  const recent = startTimes.filter((time) => time > nowMs - WINDOW_MS);
  if (recent.length < requestsPerMinute) return 0;
  const blocking = recent[recent.length - requestsPerMinute]!;
  return Math.max(0, blocking + WINDOW_MS - nowMs);
}

interface Waiter {
  grant: () => void;
}

/**
 * Creates a fair FIFO scheduler: nobody overtakes a stream that asked earlier, so a burst of requests
 * cannot starve one and the client stays under the server's rate limit instead of eating 429s.
 */
export function createScheduler(options: SchedulerOptions = {}, now: () => number = Date.now): Scheduler {
  const maxConcurrent = options.maxConcurrent ?? Number.POSITIVE_INFINITY;
  const requestsPerMinute = options.requestsPerMinute ?? Number.POSITIVE_INFINITY;
  const queue: Waiter[] = [];
  let startTimes: number[] = [];
  let active = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const pump = () => {
    while (queue.length > 0 && active < maxConcurrent) {
      const at = now();
      const delayMs = rateLimitDelayMs(startTimes, at, requestsPerMinute);
      if (delayMs > 0) {
        if (timer === undefined) {
          timer = setTimeout(() => {
            timer = undefined;
            pump();
          }, delayMs);
        }
        return;
      }
      startTimes = startTimes.filter((time) => time > at - WINDOW_MS);
      startTimes.push(at);
      active += 1;
      queue.shift()!.grant();
    }
  };

  return {
    acquire(signal) {
      return new Promise((resolve, reject) => {
        if (signal?.aborted) {
          reject(new AbortError(signal.reason));
          return;
        }
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          active -= 1;
          pump();
        };
        const onAbort = () => {
          const index = queue.indexOf(waiter);
          if (index !== -1) queue.splice(index, 1);
          reject(new AbortError(signal?.reason));
          pump();
        };
        const waiter: Waiter = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve(release);
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.push(waiter);
        pump();
      });
    },
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
  };
}

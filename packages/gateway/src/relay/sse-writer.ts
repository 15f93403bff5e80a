import type { ServerResponse } from 'node:http';
import { encodeComment } from '@spool/protocol';

/**
 * One watched stream, and the handle its writer holds: methods on a class rather than two closures
 * per stream (an idle stream holds this for its whole life, see bench/memory).
 */
class Watched {
  readonly response: ServerResponse;
  lastWriteAt = performance.now();
  readonly #scheduler: HeartbeatScheduler;

  constructor(response: ServerResponse, scheduler: HeartbeatScheduler) {
    this.response = response;
    this.#scheduler = scheduler;
  }

  /** Records a write: the next ping is due an interval from now. */
  touch(): void {
    this.lastWriteAt = performance.now();
  }

  /** Stops watching this stream. */
  stop(): void {
    this.#scheduler.unwatch(this);
  }
}

const PING = encodeComment('ping');

/**
 * Sends comment heartbeats on idle event streams. One timer serves every open stream (instead of
 * one per stream) so ten thousand idle streams cost ten thousand small records, not timers.
 */
export class HeartbeatScheduler {
  readonly #watched = new Set<Watched>();
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Starts watching a stream; the returned handle records writes and stops watching. */
  watch(response: ServerResponse): { touch(): void; stop(): void } {
    const entry = new Watched(response, this);
    this.#watched.add(entry);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#tick(), Math.max(5, Math.floor(this.#intervalMs / 3)));
      this.#timer.unref();
    }
    return entry;
  }

  /** Stops watching a stream (its handle's `stop`). */
  unwatch(entry: Watched): void {
    this.#watched.delete(entry);
    if (this.#watched.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #tick(): void {
    const now = performance.now();
    for (const entry of this.#watched) {
      if (now - entry.lastWriteAt < this.#intervalMs) continue;
      entry.lastWriteAt = now;
      // A ping is tiny; if the socket is already backed up, skipping it loses nothing.
      if (!entry.response.writableNeedDrain) entry.response.write(PING);
    }
  }

  /** Stops the timer (on shutdown). */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
  }
}

/**
 * Resolves true when the response can take more bytes; false when it closed, or when the client
 * read nothing for `timeoutMs` (a slow or stuck reader: the connection is cut, and the client can
 * resume where it was, so a socket that never drains cannot pin memory or a file descriptor).
 */
export function waitForDrain(response: ServerResponse, timeoutMs = 0): Promise<boolean> {
  if (response.destroyed || response.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            done(false);
            response.destroy();
          }, timeoutMs)
        : undefined;
    const done = (drained: boolean) => {
      clearTimeout(timer);
      response.off('drain', onDrain);
      response.off('close', onClose);
      resolve(drained);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    response.on('drain', onDrain);
    response.on('close', onClose);
  });
}

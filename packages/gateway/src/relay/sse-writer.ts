import type { ServerResponse } from 'node:http';
import { encodeComment } from '@spool/protocol';

interface Watched {
  response: ServerResponse;
  lastWriteAt: number;
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
    const entry: Watched = { response, lastWriteAt: performance.now() };
    this.#watched.add(entry);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#tick(), Math.max(5, Math.floor(this.#intervalMs / 3)));
      this.#timer.unref();
    }
    return {
      touch: () => {
        entry.lastWriteAt = performance.now();
      },
      stop: () => {
        this.#watched.delete(entry);
        if (this.#watched.size === 0 && this.#timer) {
          clearInterval(this.#timer);
          this.#timer = undefined;
        }
      },
    };
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

/** Resolves when the response can take more bytes, or when it has closed (returns false then). */
export function waitForDrain(response: ServerResponse): Promise<boolean> {
  if (response.destroyed || response.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (drained: boolean) => {
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

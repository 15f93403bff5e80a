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

/**
 * Gathers what one stream writes in one turn of the event loop and hands it to the socket as one
 * chunk. An upstream read often carries dozens of events; written one by one, each costs a trip
 * through the Writable machinery and four iovecs of chunked framing, which profiled as the largest
 * single cost of a relayed stream. `setImmediate` runs in the same loop iteration, after the I/O
 * that produced the events, so nothing waits longer than the microtasks already queued.
 */
export class TurnWriter {
  readonly #response: ServerResponse;
  /** What this turn wrote: nearly always one batch, held without an array (one per event otherwise). */
  #first: string | undefined;
  #more: string[] | undefined;
  #scheduled = false;
  readonly #flushLater = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(response: ServerResponse) {
    this.#response = response;
  }

  /**
   * Queues text for the end of this turn. Returns false when the socket is already backed up: the
   * caller should `waitForDrain` before producing more (what is queued is still written).
   */
  write(text: string): boolean {
    if (this.#first === undefined) this.#first = text;
    else if (this.#more === undefined) this.#more = [text];
    else this.#more.push(text);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushLater);
    }
    return !this.#response.writableNeedDrain;
  }

  /**
   * Writes what is queued now (before a cut, or the end of the response); `onWritten` is called
   * once those bytes reached the socket (at once when nothing was queued).
   */
  flush(onWritten?: () => void): void {
    const response = this.#response;
    const first = this.#first;
    const more = this.#more;
    this.#first = undefined;
    this.#more = undefined;
    if (first === undefined || response.destroyed || response.writableEnded) {
      onWritten?.();
      return;
    }
    response.write(more === undefined ? first : first + more.join(''), onWritten);
  }
}

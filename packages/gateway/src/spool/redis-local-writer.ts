import type { StreamState } from './store.js';

/** The appends of one stream that wait for the next write to Redis. */
export interface QueuedAppends {
  events: Array<[id: number, bytes: string]>;
  /** The new lowest id Redis should keep, when the byte cap moved it since the last write. */
  trimTo: number | undefined;
  /** The stream's state must be written as `streaming` first (its upstream accepted). */
  commit: boolean;
}

/** Told once, at a writer's next change (see `RedisLocalWriter.onChange`). */
export interface WriterWaker {
  wake(): void;
}

/**
 * What an instance keeps of a stream it generates: the appends not yet written to Redis, which
 * ids Redis has acknowledged, the byte-cap window Redis holds, and the most recent events so that
 * readers on this instance are fed from memory rather than by XRANGE round trips.
 * Pure bookkeeping: no I/O, no timers.
 */
export class RedisLocalWriter {
  /** Last id appended. */
  lastId = 0;
  /** Last id Redis acknowledged (what backpressure and `finish` wait for). */
  ackedId = 0;
  /** Lowest id Redis still holds (older ones were evicted by the byte cap). */
  storedFirstId = 1;
  /** Id of `#recent[0]`. */
  recentFirstId = 1;
  /** `commit` was asked and is not written yet. */
  commitPending = false;
  /** Set when a write failed: the stream cannot go on, and its readers end with this error. */
  failure: Error | undefined;
  /** Set once the end entry is stored (or the stream failed before its first byte). */
  ended: Exclude<StreamState, 'pending' | 'streaming'> | undefined;
  // Filled from a literal of the first batch's size: pushed one by one onto [], V8 reserves room
  // for seventeen entries, which a stream that goes idle after a few events keeps for its life.
  #storedSizes: number[] = [];
  #storedBytes = 0;
  #trimmedTo = 1;
  #recent: string[] = [];
  #recentBytes = 0;
  #queued: Array<[number, string]> = [];
  /**
   * Who waits for the next change; created when the first one waits. An array: there is nearly
   * always one local reader, and a Set's hash table costs ~160 bytes more per open stream.
   */
  #wakers: WriterWaker[] | undefined;

  constructor(
    readonly streamId: string,
    readonly ownerId: string,
    readonly idempotencyKey: string | undefined,
    readonly maxStreamBytes: number,
    readonly recentBytesCap: number,
  ) {}

  /** Records the next events, the first with id `firstId`; throws when it is not the last id + 1. */
  record(firstId: number, events: readonly string[]): void {
    if (firstId !== this.lastId + 1)
      throw new Error(`spool: event ${firstId} appended, expected ${this.lastId + 1}`);
    if (this.lastId === 0) {
      this.#storedSizes = events.map((bytes) => bytes.length);
      this.#recent = events.slice();
      for (const bytes of events) {
        this.#storedBytes += bytes.length;
        this.#recentBytes += bytes.length;
      }
    } else {
      for (const bytes of events) {
        this.#storedSizes.push(bytes.length);
        this.#storedBytes += bytes.length;
        this.#recent.push(bytes);
        this.#recentBytes += bytes.length;
      }
    }
    for (const bytes of events) this.#queued.push([++this.lastId, bytes]);
    this.#evict();
  }

  /** Drops what the byte cap and the in-memory window no longer hold. */
  #evict(): void {
    // Evict from the front, never the newest event, so live readers always get what is new.
    while (this.#storedBytes > this.maxStreamBytes && this.#storedSizes.length > 1) {
      this.#storedBytes -= this.#storedSizes.shift() as number;
      this.storedFirstId++;
    }
    while (
      this.#recent.length > 1 &&
      (this.#recentBytes > this.recentBytesCap || this.recentFirstId < this.storedFirstId)
    ) {
      this.#recentBytes -= (this.#recent.shift() as string).length;
      this.recentFirstId++;
    }
  }

  /** Hands over what the next write to Redis carries. */
  takeQueued(): QueuedAppends {
    const events = this.#queued;
    this.#queued = [];
    const trimTo = this.storedFirstId > this.#trimmedTo ? this.storedFirstId : undefined;
    if (trimTo !== undefined) this.#trimmedTo = trimTo;
    const commit = this.commitPending;
    this.commitPending = false;
    return { events, trimTo, commit };
  }

  /** The recorded events after `afterId` (up to `untilId`) that are still in memory, concatenated. */
  recordedAfter(afterId: number, untilId = this.lastId): string {
    const from = afterId + 1 - this.recentFirstId;
    const to = untilId + 1 - this.recentFirstId;
    if (from < 0) throw new Error(`spool: event ${afterId + 1} is no longer in memory`);
    if (to - from === 1) return this.#recent[from] as string;
    return this.#recent.slice(from, to).join('');
  }

  /** Redis stored every event up to `id`. */
  acknowledge(id: number): void {
    if (id > this.ackedId) this.ackedId = id;
    this.wake();
  }

  /** A write failed: every later append, `finish` and local reader gets `error`. */
  fail(error: Error): void {
    this.failure ??= error;
    this.wake();
  }

  /** The stream's end is stored. */
  end(state: NonNullable<RedisLocalWriter['ended']>): void {
    this.ended = state;
    this.wake();
  }

  /** Calls `waker.wake()` once, at the next recorded batch, acknowledgement, failure or end. */
  onChange(waker: WriterWaker): void {
    if (this.#wakers) this.#wakers.push(waker);
    else this.#wakers = [waker];
  }

  /** Removes a waker that no longer waits. */
  offChange(waker: WriterWaker): void {
    const wakers = this.#wakers;
    const index = wakers === undefined ? -1 : wakers.indexOf(waker);
    if (index >= 0) wakers?.splice(index, 1);
  }

  /** Resolves once Redis acknowledged `id` or a write failed. */
  async acknowledged(id: number): Promise<void> {
    while (this.ackedId < id && !this.failure) {
      await new Promise<void>((resolve) => this.onChange({ wake: resolve }));
    }
  }

  /** Calls every waiting waker. */
  wake(): void {
    const wakers = this.#wakers;
    if (wakers === undefined) return;
    this.#wakers = undefined;
    for (const waker of wakers) waker.wake();
  }
}

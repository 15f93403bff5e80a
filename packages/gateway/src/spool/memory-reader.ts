import { ITERATION_DONE } from '../iteration.js';
import type { MemoryRecord } from './memory-store.js';
import { SpoolReadError } from './store.js';

/** Where a reader finds its stream again after a wait (the store may have swept it meanwhile). */
export interface MemoryRecordSource {
  /** The stream's record, or the error a reader of a stream no longer held ends with. */
  lookup(streamId: string): MemoryRecord | SpoolReadError;
}

/**
 * One reader of the memory store: replays the events after its cursor, then waits for the next
 * append. A plain iterator rather than an async generator: an idle open stream holds its reader
 * for its whole life, and a suspended generator costs a frame, its registers, a request and the
 * promises of its await (bench/memory). The reader is its own waker, and `return()` stops it, so
 * waiting allocates one promise and nothing else.
 */
export class MemoryReader implements AsyncIterableIterator<string> {
  readonly #source: MemoryRecordSource;
  readonly #streamId: string;
  #cursor: number;
  #record: MemoryRecord | undefined;
  #closed = false;
  /** Settles the `next()` under way while the reader waits for an append. */
  #resolve: ((result: IteratorResult<string> | Promise<never>) => void) | undefined;

  constructor(source: MemoryRecordSource, streamId: string, afterId: number) {
    this.#source = source;
    this.#streamId = streamId;
    this.#cursor = afterId;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<string>> {
    if (this.#closed) return Promise.resolve(ITERATION_DONE);
    let result: IteratorResult<string> | undefined;
    try {
      result = this.#poll();
    } catch (error) {
      this.#close();
      return Promise.reject(error);
    }
    if (result !== undefined) return Promise.resolve(result);
    return new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  return(): Promise<IteratorResult<string>> {
    this.#close();
    return Promise.resolve(ITERATION_DONE);
  }

  /** Called by the store when the stream changed (an append, its end, a sweep), once it has let go of its wakers. */
  wake(): void {
    const resolve = this.#resolve;
    if (resolve === undefined) return;
    this.#resolve = undefined;
    try {
      const result = this.#poll();
      if (result !== undefined) resolve(result);
      else this.#resolve = resolve;
    } catch (error) {
      this.#close();
      resolve(Promise.reject(error));
    }
  }

  /**
   * What the reader can answer now: the events after its cursor, the end, or `undefined` when it
   * must wait (then it is registered as a waker). Throws the error the read ends with.
   */
  #poll(): IteratorResult<string> | undefined {
    const found = this.#source.lookup(this.#streamId);
    if (found instanceof SpoolReadError) throw found;
    const record = found;
    this.#record = record;
    const cursor = this.#cursor;
    if (cursor + 1 < record.firstId) {
      throw new SpoolReadError(
        'evicted',
        `Events ${cursor + 1}-${record.firstId - 1} of stream ${this.#streamId} were evicted (the stream passed spool.maxStreamBytes)`,
      );
    }
    const from = cursor + 1 - record.firstId;
    if (record.packed) {
      const rest = record.packed.textFrom(from);
      this.#close();
      return rest === '' ? ITERATION_DONE : { done: false, value: rest };
    }
    const lastId = record.firstId + record.events.length - 1;
    if (cursor < lastId) {
      const batch =
        from === record.events.length - 1
          ? (record.events[from] as string)
          : record.events.slice(from).join('');
      this.#cursor = lastId;
      return { done: false, value: batch };
    }
    if (record.ended) {
      this.#close();
      return ITERATION_DONE;
    }
    // A literal of one, not a push onto [] (that reserves room for seventeen).
    if (record.wakers) record.wakers.push(this);
    else record.wakers = [this];
    return undefined;
  }

  #unwait(): void {
    const wakers = this.#record?.wakers;
    const index = wakers === undefined ? -1 : wakers.indexOf(this);
    if (index >= 0) wakers?.splice(index, 1);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwait();
    this.#record = undefined;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.(ITERATION_DONE);
  }
}

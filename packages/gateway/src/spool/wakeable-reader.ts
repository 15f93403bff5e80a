import { ITERATION_DONE } from '../iteration.js';
import type { SpoolReader } from './store.js';

/** What a read can answer now: a batch, the end, or (Redis) a read of older events under way. */
export type ReaderAnswer = IteratorResult<string> | Promise<IteratorResult<string>>;

/**
 * A spool reader that answers from what its stream holds now, or waits to be woken by the stream's
 * next change. A plain iterator rather than an async generator: an idle open stream holds its
 * reader for its whole life, and a suspended generator costs a frame, its registers and the
 * promises of its await (bench/memory). `return()` stops it, also while it waits; waiting through
 * `pull` allocates nothing, through `next()` one promise.
 */
export abstract class WakeableReader implements SpoolReader {
  #closed = false;
  /** The callbacks of the pull under way while the reader waits to be woken. */
  #onResult: ((result: IteratorResult<string>) => void) | undefined;
  #onError: ((error: unknown) => void) | undefined;

  /**
   * What the reader can answer now, or `undefined` once it has registered to be woken at the
   * stream's next change. Throws the error the read ends with.
   */
  protected abstract poll(): ReaderAnswer | undefined;

  /** Lets go of whatever the reader is registered with (it will not be woken again). */
  protected abstract release(): void;

  [Symbol.asyncIterator](): this {
    return this;
  }

  pull(onResult: (result: IteratorResult<string>) => void, onError: (error: unknown) => void): void {
    if (this.#closed) {
      onResult(ITERATION_DONE);
      return;
    }
    let result: ReaderAnswer | undefined;
    try {
      result = this.poll();
    } catch (error) {
      this.close();
      onError(error);
      return;
    }
    if (result === undefined) {
      this.#onResult = onResult;
      this.#onError = onError;
    } else if (result instanceof Promise) {
      result.then(onResult, onError);
    } else {
      onResult(result);
    }
  }

  next(): Promise<IteratorResult<string>> {
    return new Promise((resolve, reject) => this.pull(resolve, reject));
  }

  return(): Promise<IteratorResult<string>> {
    this.close();
    return Promise.resolve(ITERATION_DONE);
  }

  /** Called at the stream's next change (an append, its end, a sweep), once the caller let go of its wakers. */
  wake(): void {
    const onResult = this.#onResult;
    const onError = this.#onError;
    if (onResult === undefined || onError === undefined) return;
    this.#onResult = undefined;
    this.#onError = undefined;
    this.pull(onResult, onError);
  }

  /** Ends the read; a pull that waits gets a done result. */
  protected close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.release();
    const onResult = this.#onResult;
    this.#onResult = undefined;
    this.#onError = undefined;
    onResult?.(ITERATION_DONE);
  }
}

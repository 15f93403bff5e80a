import { ITERATION_DONE } from '../iteration.js';

/** What a read can answer now: a batch, the end, or (Redis) a read of older events under way. */
export type ReaderAnswer = IteratorResult<string> | Promise<IteratorResult<string>>;

/**
 * A spool reader that answers from what its stream holds now, or waits to be woken by the stream's
 * next change. A plain iterator rather than an async generator: an idle open stream holds its
 * reader for its whole life, and a suspended generator costs a frame, its registers and the
 * promises of its await (bench/memory). `return()` stops it, also while it waits; waiting
 * allocates one promise and nothing else.
 */
export abstract class WakeableReader implements AsyncIterableIterator<string> {
  #closed = false;
  /** Settles the `next()` under way while the reader waits to be woken. */
  #resolve: ((result: ReaderAnswer) => void) | undefined;

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

  next(): Promise<IteratorResult<string>> {
    if (this.#closed) return Promise.resolve(ITERATION_DONE);
    let result: ReaderAnswer | undefined;
    try {
      result = this.poll();
    } catch (error) {
      this.close();
      return Promise.reject(error);
    }
    if (result === undefined) {
      return new Promise((resolve) => {
        this.#resolve = resolve;
      });
    }
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  return(): Promise<IteratorResult<string>> {
    this.close();
    return Promise.resolve(ITERATION_DONE);
  }

  /** Called at the stream's next change (an append, its end, a sweep), once the caller let go of its wakers. */
  wake(): void {
    const resolve = this.#resolve;
    if (resolve === undefined) return;
    this.#resolve = undefined;
    try {
      const result = this.poll();
      if (result === undefined) this.#resolve = resolve;
      else resolve(result);
    } catch (error) {
      this.close();
      resolve(Promise.reject(error));
    }
  }

  /** Ends the read; a `next()` that waits resolves done. */
  protected close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.release();
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.(ITERATION_DONE);
  }
}

import type { Readable } from 'node:stream';
import { ITERATION_DONE } from '../iteration.js';

/** The error a body that closed before its end is read with, as `stream.finished` reports it. */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Pulls the chunks of a Readable in paused mode, one `read()` per `next()`, and leaves the stream
 * open when the consumer stops (like `readable.iterator({ destroyOnReturn: false })`).
 *
 * Instead of that iterator: it is an async generator plus `stream.finished`'s seven listeners and
 * their contexts, held by every open stream for its whole life; this is one object and four
 * handlers (bench/memory).
 */
export class ReadableChunks implements AsyncIterator<Buffer> {
  readonly #stream: Readable;
  #ended = false;
  #error: unknown;
  #attached = true;
  /** Settles the `next()` that waits for the stream (with a rejected promise on an error). */
  #resolve: ((result: Promise<IteratorResult<Buffer>>) => void) | undefined;

  constructor(stream: Readable) {
    this.#stream = stream;
    stream.on('readable', this.#onReadable);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onError);
    stream.on('close', this.#onClose);
    if (stream.errored) this.#error = stream.errored;
    else if (stream.readableEnded) this.#ended = true;
    else if (stream.destroyed) this.#error = prematureClose();
  }

  next(): Promise<IteratorResult<Buffer>> {
    const ready = this.#ready();
    if (ready !== undefined) return ready;
    return new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  return(): Promise<IteratorResult<Buffer>> {
    this.#detach();
    this.#ended = true;
    this.#settle();
    return Promise.resolve(ITERATION_DONE);
  }

  /** What `next()` can answer without waiting; `undefined` when it must wait for the stream. */
  #ready(): Promise<IteratorResult<Buffer>> | undefined {
    if (this.#error !== undefined) {
      this.#detach();
      return Promise.reject(this.#error);
    }
    if (this.#ended) {
      this.#detach();
      return Promise.resolve(ITERATION_DONE);
    }
    const chunk: Buffer | null = this.#stream.read();
    return chunk === null ? undefined : Promise.resolve({ done: false, value: chunk });
  }

  /** Answers the `next()` that waits, if any and if it can be answered now. */
  #settle(): void {
    const resolve = this.#resolve;
    if (resolve === undefined) return;
    const ready = this.#ready();
    if (ready === undefined) return;
    this.#resolve = undefined;
    resolve(ready);
  }

  #detach(): void {
    if (!this.#attached) return;
    this.#attached = false;
    const stream = this.#stream;
    stream.off('readable', this.#onReadable);
    stream.off('end', this.#onEnd);
    stream.off('error', this.#onError);
    stream.off('close', this.#onClose);
  }

  readonly #onReadable = (): void => this.#settle();

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#settle();
  };

  readonly #onError = (error: unknown): void => {
    this.#error ??= error;
    this.#settle();
  };

  readonly #onClose = (): void => {
    if (!this.#ended && this.#error === undefined) this.#error = this.#stream.errored ?? prematureClose();
    this.#settle();
  };
}

import type { Readable } from 'node:stream';
import { ITERATION_DONE } from '../iteration.js';
import type { BufferedEventSource, UpstreamEvent } from './provider.js';
import { ReadableChunks } from './readable-chunks.js';
import { SseParser } from './sse-parser.js';
import { incompleteUtf8TailLength } from './utf8-tail.js';

/** A response body as undici gives it: a Readable that can also be drained. */
export interface DrainableBody extends Readable {
  dump(options?: { limit: number; signal?: AbortSignal }): Promise<unknown>;
}

/**
 * Turns a byte stream of SSE into events, pulling the next chunk only when the consumer asks for
 * the next event, so a slow consumer pauses the upstream socket instead of buffering it.
 *
 * A plain iterator object rather than an async generator: an open stream holds one of these for
 * its whole life, and each async-generator layer costs a suspended frame, a context and promises
 * per stream (bench/memory). It is pulled by one consumer at a time, like any for-await.
 */
class SseEventIterator implements AsyncIterableIterator<UpstreamEvent>, BufferedEventSource {
  readonly #chunks: AsyncIterator<Uint8Array | string>;
  readonly #parser = new SseParser();
  /** Events parsed but not yet pulled; `#head` is the next one. */
  #pending: UpstreamEvent[] = [];
  #head = 0;
  /** The first bytes of a character cut at the end of the last chunk. */
  #carry: Buffer | undefined;
  /** Whether text was decoded yet (a byte order mark is dropped at the start only). */
  #decodedAny = false;
  #ended = false;
  #finished = false;
  #inFlight: Promise<unknown> | undefined;
  /** The body drained once the events end (its connection then goes back to the pool). */
  readonly #drainable: DrainableBody | undefined;
  readonly #mapError: ((error: unknown) => unknown) | undefined;

  constructor(
    chunks: AsyncIterator<Uint8Array | string>,
    drainable?: DrainableBody,
    mapError?: (error: unknown) => unknown,
  ) {
    this.#chunks = chunks;
    this.#drainable = drainable;
    this.#mapError = mapError;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #shift(): UpstreamEvent | undefined {
    const event = this.#pending[this.#head];
    if (event === undefined) return undefined;
    this.#head++;
    if (this.#head === this.#pending.length) {
      // Drop the events already handed out instead of keeping them until the next chunk.
      this.#pending = [];
      this.#head = 0;
    }
    return event;
  }

  takeBuffered(): UpstreamEvent[] {
    if (this.#head === this.#pending.length) return [];
    const events = this.#head === 0 ? this.#pending : this.#pending.slice(this.#head);
    this.#pending = [];
    this.#head = 0;
    return events;
  }

  next(): Promise<IteratorResult<UpstreamEvent>> {
    const ready = this.#ready();
    return ready === undefined ? this.#pull() : Promise.resolve(ready);
  }

  /** The next event or the end when known without reading; `undefined` when a chunk must be read. */
  #ready(): IteratorResult<UpstreamEvent> | undefined {
    const event = this.#shift();
    if (event !== undefined) return { done: false, value: event };
    if (!this.#ended) return undefined;
    this.#finish();
    return ITERATION_DONE;
  }

  /**
   * Reads the next chunk. `then` with the iterator's own handlers rather than an async method:
   * an idle stream waits here for its whole life, and a suspended async frame costs more.
   */
  #pull(): Promise<IteratorResult<UpstreamEvent>> {
    let pulled: Promise<IteratorResult<Uint8Array | string>>;
    try {
      pulled = this.#chunks.next();
    } catch (error) {
      return this.#onPullError(error);
    }
    this.#inFlight = pulled;
    return pulled.then(this.#onChunk, this.#onPullError);
  }

  readonly #onChunk = (
    result: IteratorResult<Uint8Array | string>,
  ): Promise<IteratorResult<UpstreamEvent>> | IteratorResult<UpstreamEvent> => {
    this.#inFlight = undefined;
    if (result.done) {
      this.#ended = true;
      if (this.#carry) this.#feedText(this.#carry.toString('utf8'));
      this.#carry = undefined;
      // A final event without its blank line is incomplete by the spec (WHATWG SSE §9.2.6): dropped.
    } else if (typeof result.value === 'string') this.#parser.feed(result.value, this.#pending);
    else {
      this.#feedBytes(result.value);
    }
    return this.#ready() ?? this.#pull();
  };

  readonly #onPullError = (error: unknown): Promise<never> => {
    this.#inFlight = undefined;
    this.#ended = true;
    this.#finish();
    return Promise.reject(this.#mapError ? this.#mapError(error) : error);
  };

  async return(): Promise<IteratorResult<UpstreamEvent>> {
    if (this.#finished) return ITERATION_DONE;
    this.#ended = true;
    this.#pending = [];
    this.#head = 0;
    try {
      // Like an async generator, a return asked during a pull waits for that pull first.
      await this.#inFlight?.catch(() => {});
      await this.#chunks.return?.();
    } finally {
      this.#finish();
    }
    return ITERATION_DONE;
  }

  /**
   * Decodes a chunk as UTF-8, holding back a character cut at its end for the next one. Instead of
   * a streaming TextDecoder: that costs ~700 bytes of native converter state per open stream.
   */
  #feedBytes(chunk: Uint8Array): void {
    let bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#carry) bytes = Buffer.concat([this.#carry, bytes]);
    const held = incompleteUtf8TailLength(bytes);
    // A copy: a view would keep the whole chunk alive while the stream waits for its next one.
    this.#carry = held > 0 ? Buffer.from(bytes.subarray(bytes.length - held)) : undefined;
    this.#feedText(bytes.toString('utf8', 0, bytes.length - held));
  }

  #feedText(text: string): void {
    if (text === '') return;
    if (!this.#decodedAny) {
      this.#decodedAny = true;
      // As TextDecoder does by default (WHATWG Encoding §10.2.2): a leading BOM is not text.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.#parser.feed(text, this.#pending);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    // Not awaited: an upstream that keeps the body open after its last event must not hold up the
    // end of the stream; after a second its socket is destroyed instead of reused.
    if (this.#drainable) drainBody(this.#drainable);
  }
}

/**
 * Turns a byte stream of SSE into events, pulling the next chunk only when the consumer asks for
 * the next event, so a slow consumer pauses the upstream socket instead of buffering it.
 */
export function readSseEvents(
  body: AsyncIterable<Uint8Array | string>,
): AsyncIterableIterator<UpstreamEvent> {
  return new SseEventIterator(body[Symbol.asyncIterator]());
}

/**
 * Reads a response body's events; when the consumer stops early (a `[DONE]` it has seen, a Stop),
 * the rest of the body is drained (bounded in bytes and time) rather than the socket destroyed, so
 * the connection goes back to the pool and no abort error is built and thrown away on every
 * finished stream. `mapError` turns a transport failure into the caller's error.
 */
export function readBodyEvents(
  body: DrainableBody,
  mapError?: (error: unknown) => unknown,
): AsyncIterableIterator<UpstreamEvent> {
  return new SseEventIterator(new ReadableChunks(body), body, mapError);
}

const DRAIN_LIMIT_BYTES = 64 * 1024;
const DRAIN_TIMEOUT_MS = 1000;
const DRAIN_TIMED_OUT = Object.freeze(new Error('the upstream body did not end within a second'));

/**
 * Reads what is left of a body so its connection can be reused. The timeout is cleared as soon as
 * the drain settles (nearly always at once): `AbortSignal.timeout` would keep a timer, a signal
 * and the body alive for the whole second after every stream, which the young-generation GC then
 * copies (bench: a scavenge's survivors are its pause).
 */
function drainBody(body: DrainableBody): void {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(DRAIN_TIMED_OUT), DRAIN_TIMEOUT_MS);
  body
    .dump({ limit: DRAIN_LIMIT_BYTES, signal: controller.signal })
    .catch(() => {})
    .finally(() => clearTimeout(timer));
}

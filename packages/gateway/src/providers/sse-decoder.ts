import type { UpstreamEvent } from './provider.js';
import { SseParser } from './sse-parser.js';
import { incompleteUtf8TailLength } from './utf8-tail.js';

/**
 * The bytes of an event stream, chunk by chunk, into events: UTF-8 decoded across chunk
 * boundaries, a leading byte order mark dropped, then parsed (WHATWG HTML §9.2.6).
 *
 * Instead of a streaming TextDecoder: that costs ~700 bytes of native converter state per open
 * stream (bench/memory).
 */
export class SseDecoder {
  readonly #parser: SseParser;
  /** The first bytes of a character cut at the end of the last chunk. */
  #carry: Buffer | undefined;
  /** Whether text was decoded yet (a byte order mark is dropped at the start only). */
  #decodedAny = false;

  /** @param maxEventLength The parser's bound on one event (see `SseParser`). @default Infinity */
  constructor(maxEventLength?: number) {
    this.#parser = new SseParser(maxEventLength);
  }

  /** Decodes a chunk and appends the events it completes to `out`; throws `SseEventTooLargeError` past the bound. */
  feed(chunk: Uint8Array, out: UpstreamEvent[]): void {
    let bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#carry) bytes = Buffer.concat([this.#carry, bytes]);
    const held = incompleteUtf8TailLength(bytes);
    // A copy: a view would keep the whole chunk alive while the stream waits for its next one.
    this.#carry = held > 0 ? Buffer.from(bytes.subarray(bytes.length - held)) : undefined;
    this.#feedText(bytes.toString('utf8', 0, bytes.length - held), out);
  }

  /**
   * Ends the body: a character left cut at its end is decoded (as U+FFFD). A final event without
   * its blank line stays incomplete and is dropped, as the spec says.
   */
  end(out: UpstreamEvent[]): void {
    if (this.#carry) this.#feedText(this.#carry.toString('utf8'), out);
    this.#carry = undefined;
    this.#parser.end(out);
  }

  #feedText(text: string, out: UpstreamEvent[]): void {
    if (text === '') return;
    if (!this.#decodedAny) {
      this.#decodedAny = true;
      // As TextDecoder does by default (WHATWG Encoding §10.2.2): a leading BOM is not text.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.#parser.feed(text, out);
  }
}

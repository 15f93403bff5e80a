import { SseEvent, type UpstreamEvent } from './provider.js';

const LF = 10;
const CR = 13;
const SPACE = 32;
const COLON = 58;

/** Whether the line at `start` begins with `data:`. */
function isDataField(text: string, start: number): boolean {
  return text.startsWith('data:', start);
}

/** Whether the line at `start` begins with `event:`. */
function isEventField(text: string, start: number): boolean {
  return text.startsWith('event:', start);
}

/**
 * Thrown by `SseParser.feed` when one event, or one line of it, grows past the parser's bound:
 * whatever the upstream meant, the gateway will not hold it.
 */
export class SseEventTooLargeError extends Error {
  constructor(
    /** The bound that was passed, in UTF-16 code units of decoded text. */
    readonly maxEventLength: number,
  ) {
    super(`An upstream event grew past ${maxEventLength} characters before it ended.`);
    this.name = 'SseEventTooLargeError';
  }
}

/**
 * Parses an event stream (WHATWG HTML §9.2.6) into the data and type of each event, as
 * eventsource-parser 3 does (the property test holds them to the same output for any split of
 * any input). One object with methods rather than that parser's nine closures over a shared
 * context: an open stream holds its parser for its whole life (bench/memory). `id` and `retry`
 * are read past: the gateway numbers events itself.
 */
export class SseParser {
  /** The most text one event (its data so far plus an unfinished line) may hold. */
  readonly #maxEventLength: number;
  /** The start of a line not yet ended (its end comes in a later chunk). */
  #partial = '';
  #data = '';
  #dataLines = 0;
  #eventType: string | undefined;
  #first = true;

  /**
   * @param maxEventLength The most text one event may hold, in UTF-16 code units (a byte each for
   * ASCII); past it `feed` throws `SseEventTooLargeError`. @default Infinity
   */
  constructor(maxEventLength = Number.POSITIVE_INFINITY) {
    this.#maxEventLength = maxEventLength;
  }

  /**
   * Parses a chunk of text and appends the events it completes to `out`; throws
   * `SseEventTooLargeError` once an unfinished event holds more than the bound.
   */
  feed(chunk: string, out: UpstreamEvent[]): void {
    let text = chunk;
    if (this.#first) {
      this.#first = false;
      // eventsource-parser drops a byte order mark decoded as Latin-1 (the three bytes' code points).
      if (text.charCodeAt(0) === 0xef && text.charCodeAt(1) === 0xbb && text.charCodeAt(2) === 0xbf)
        text = text.slice(3);
    }
    if (this.#partial !== '') {
      if (text.indexOf('\n') === -1 && text.indexOf('\r') === -1) {
        this.#partial += text;
        this.#checkHeld();
        return;
      }
      text = this.#partial + text;
      this.#partial = '';
    }
    this.#partial = this.#lines(text, out);
    this.#checkHeld();
  }

  /**
   * Ends the stream. A line ended by a CR at the end of a chunk was held in case an LF followed
   * (with the text of later chunks that had no line break, as eventsource-parser holds it); it is
   * ended now, so an event whose blank line is that CR is dispatched.
   */
  end(out: UpstreamEvent[]): void {
    if (this.#partial.includes('\r')) this.feed('\n', out);
    this.#partial = '';
  }

  /** What an event not yet ended holds: its data lines so far and the line not yet ended. */
  #checkHeld(): void {
    if (this.#partial.length + this.#data.length > this.#maxEventLength)
      throw new SseEventTooLargeError(this.#maxEventLength);
  }

  /** Parses the complete lines of `text`; returns what follows the last line end. */
  #lines(text: string, out: UpstreamEvent[]): string {
    let start = 0;
    for (;;) {
      const lf = text.indexOf('\n', start);
      const cr = text.indexOf('\r', start);
      let end: number;
      if (cr === -1) end = lf;
      else if (lf === -1) end = cr === text.length - 1 ? -1 : cr;
      else end = Math.min(cr, lf);
      // A CR that ends the chunk may be the first half of a CRLF: wait for the next chunk.
      if (end === -1) return start === 0 ? text : text.slice(start);
      this.#line(text, start, end, out);
      start = end + 1;
      if (text.charCodeAt(end) === CR && text.charCodeAt(start) === LF) start++;
      if (start >= text.length) return '';
    }
  }

  #line(text: string, start: number, end: number, out: UpstreamEvent[]): void {
    if (start === end) {
      if (this.#dataLines > 0) out.push(new SseEvent(this.#data, this.#eventType));
      this.#data = '';
      this.#dataLines = 0;
      this.#eventType = undefined;
      return;
    }
    if (isDataField(text, start)) {
      this.#appendData(text.slice(text.charCodeAt(start + 5) === SPACE ? start + 6 : start + 5, end));
      return;
    }
    if (isEventField(text, start)) {
      this.#eventType =
        text.slice(text.charCodeAt(start + 6) === SPACE ? start + 7 : start + 6, end) || undefined;
      return;
    }
    if (text.charCodeAt(start) === COLON) return;
    // Any other field (`id`, `retry`, unknown names) is read past; a bare `data` or `event` line is
    // that field with an empty value. (`data:…` and `event:…` were handled above.)
    const length = end - start;
    if (length === 4 && text.startsWith('data', start)) this.#appendData('');
    else if (length === 5 && text.startsWith('event', start)) this.#eventType = undefined;
  }

  #appendData(value: string): void {
    this.#data = this.#dataLines === 0 ? value : `${this.#data}\n${value}`;
    this.#dataLines++;
    // Checked per line too: a whole event can arrive, and be dispatched, within one chunk.
    if (this.#data.length > this.#maxEventLength) throw new SseEventTooLargeError(this.#maxEventLength);
  }
}

import { encodeComment, encodeEvent, encodeRetry, parseLastEventId } from '@spool/protocol';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { isErrorEvent } from './error-mapping.js';
import { StreamError } from './errors.js';

/**
 * Event types after which a stream is complete: OpenAI Responses' last events, Anthropic Messages'
 * `message_stop`, and `error` on either. Chat completions end with `data: [DONE]` instead.
 */
const TERMINAL_EVENT_TYPES = new Set([
  'response.completed',
  'response.failed',
  'response.incomplete',
  'message_stop',
  'error',
]);

/** Options of {@link SseSplicer}. */
export interface SseSplicerOptions {
  /**
   * Characters one event (or one unterminated line) may buffer before the stream fails: a bound on
   * memory against a server that never ends its event.
   * @default 16 MiB worth of characters
   */
  maxEventLength?: number;
}

/**
 * Joins the bodies of several connections of one server-sent event stream into the body a perfect
 * network would have carried: whole events only (an incomplete trailing event is held back and dropped
 * when its connection breaks), each event once (a resumed connection's replay at or below the last
 * delivered id is skipped). Parsing is eventsource-parser's, the encoding @spool/protocol's, so what
 * comes out is the same events re-encoded: `event:` and `id:` lines and multi-line `data:` survive.
 * Pure: the caller does the I/O and calls {@link beginConnection} before each body.
 */
export class SseSplicer {
  #parser: EventSourceParser;
  #output = '';
  #lastEventId: string | undefined;
  #lastNumericId: number | undefined;
  #finished = false;
  #retryForwarded = false;
  #events = 0;
  #overflow: StreamError | undefined;

  constructor(options: SseSplicerOptions = {}) {
    const maxBufferSize = options.maxEventLength ?? 16 * 1024 * 1024;
    this.#parser = createParser({
      maxBufferSize,
      onEvent: (message) => this.#onEvent(message),
      onComment: (comment) => {
        this.#output += encodeComment(comment);
      },
      onRetry: (delayMs) => {
        this.retryMs = delayMs;
        // Each connection restates it; the reader needs it once, wherever the first copy survived.
        if (this.#retryForwarded) return;
        this.#retryForwarded = true;
        this.#output += encodeRetry(delayMs);
      },
      onError: (error) => {
        if (error.type !== 'max-buffer-size-exceeded') return;
        this.#overflow = new StreamError(
          `An event exceeded ${maxBufferSize} characters; raise \`maxEventLength\` if the server's events are that large.`,
          { code: 'event_too_large', retryable: false },
        );
      },
    });
  }

  /** The `id:` of the last event handed over, as the server wrote it: the next `Last-Event-ID`. */
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  /** Whether a terminal event (`data: [DONE]`, `message_stop`, `response.completed`, an error) was handed over. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Events handed over so far. */
  get events(): number {
    return this.#events;
  }

  /** The latest `retry:` value the server sent, in ms. */
  retryMs: number | undefined;

  /** Starts the next connection's body: whatever the previous one left incomplete is dropped. */
  beginConnection(): void {
    this.#parser.reset();
  }

  /**
   * Feeds body text of the current connection.
   * @returns the text to hand over: complete, new events (and comments), possibly empty.
   * @throws StreamError with code `event_too_large` past `maxEventLength`.
   */
  feed(text: string): string {
    this.#parser.feed(text);
    if (this.#overflow) throw this.#overflow;
    const output = this.#output;
    this.#output = '';
    return output;
  }

  #onEvent(message: EventSourceMessage): void {
    if (!this.#isNew(message.id)) return;
    if (message.id !== undefined) this.#lastEventId = message.id;
    this.#events += 1;
    if (
      message.data === '[DONE]' ||
      (message.event !== undefined && TERMINAL_EVENT_TYPES.has(message.event)) ||
      isErrorEvent(message)
    ) {
      this.#finished = true;
    }
    this.#output += encodeEvent({ id: message.id, event: message.event, data: message.data });
  }

  /**
   * Whether an event is not a replay. Numeric ids must grow (Spool numbers from 1, Responses'
   * sequence numbers from 0, so no id is presumed seen before the first); others always pass.
   */
  #isNew(id: string | undefined): boolean {
    if (id === undefined || id === '') return true;
    const numeric = parseLastEventId(id);
    if (numeric === null) return true;
    if (this.#lastNumericId !== undefined && numeric <= this.#lastNumericId) return false;
    this.#lastNumericId = numeric;
    return true;
  }
}

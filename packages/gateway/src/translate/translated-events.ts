import { ITERATION_DONE } from '../iteration.js';
import {
  type BufferedEventSource,
  NO_EVENTS,
  takeBuffered,
  type UpstreamEvent,
} from '../providers/provider.js';

/** A chat stream's translation into another API's events, one chat event's data at a time. */
export interface StreamTranslator {
  /**
   * The events one chat event's data becomes (none after the end); `parsed` is the data as JSON
   * when the provider already parsed it.
   */
  push(data: string, parsed?: unknown): UpstreamEvent[];
  /** The closing events, for a chat stream that finished but ended without its `[DONE]`. */
  end(): UpstreamEvent[];
  /** The translated stream has ended (its terminal or error event was returned): nothing more belongs to it. */
  readonly done: boolean;
  /** The chat stream said it finished (a finish reason): its end then completes the translation. */
  readonly finished: boolean;
}

/**
 * A chat-completions event stream as another API's, through a {@link StreamTranslator}. A plain
 * iterator that hands over, with `takeBuffered`, everything one upstream read translated to: the
 * relay stores and sends it as one batch. An async generator would cost the relay one turn, one
 * append and one wake of the readers per translated event, and a read's first token would wait
 * for all of them (Responses' first delta comes after four head events; Messages' after two).
 */
export class TranslatedEvents implements AsyncIterableIterator<UpstreamEvent>, BufferedEventSource {
  readonly #source: AsyncIterator<UpstreamEvent>;
  readonly #translator: StreamTranslator;
  #pending: UpstreamEvent[] = [];
  #ended = false;
  /** The source ended or was released. */
  #released = false;

  constructor(events: AsyncIterable<UpstreamEvent>, translator: StreamTranslator) {
    this.#source = events[Symbol.asyncIterator]();
    this.#translator = translator;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<UpstreamEvent>> {
    while (this.#pending.length === 0) {
      if (this.#ended) return this.return();
      const result = await this.#source.next();
      if (result.done) {
        this.#released = true;
        this.#ended = true;
        if (this.#translator.finished) this.#pending = this.#translator.end();
        continue;
      }
      this.#translate(result.value);
      for (const event of takeBuffered(this.#source)) this.#translate(event);
    }
    return { done: false, value: this.#pending.shift() as UpstreamEvent };
  }

  takeBuffered(): readonly UpstreamEvent[] {
    if (this.#pending.length === 0) return NO_EVENTS;
    const events = this.#pending;
    this.#pending = [];
    return events;
  }

  async return(): Promise<IteratorResult<UpstreamEvent>> {
    this.#ended = true;
    this.#pending = [];
    if (!this.#released) {
      this.#released = true;
      await this.#source.return?.();
    }
    return ITERATION_DONE;
  }

  #translate(event: UpstreamEvent): void {
    if (this.#translator.done) return;
    const events = this.#translator.push(event.data, event.parsed);
    if (this.#pending.length === 0) this.#pending = events;
    else this.#pending.push(...events);
    // After the terminal or an error event nothing more belongs to this answer.
    if (this.#translator.done) this.#ended = true;
  }
}

import { UpstreamError } from '../errors.js';
import { ITERATION_DONE } from '../iteration.js';
import { type BufferedEventSource, NO_EVENTS, takeBuffered, type UpstreamEvent } from './provider.js';

/** The longest part of an unreadable event quoted in the error that reports it. */
const QUOTED_CHARS = 200;

/**
 * The `upstream_protocol_error` that ends a stream whose upstream broke its API's format, quoting
 * the event (its first 200 characters). Not retried: an upstream that broke the format once would
 * most likely break it again.
 */
export function upstreamProtocolError(provider: string, what: string, data: string): UpstreamError {
  const quoted = data.length > QUOTED_CHARS ? `${data.slice(0, QUOTED_CHARS)}…` : data;
  return UpstreamError.ofCode(
    'upstream_protocol_error',
    `Upstream "${provider}" sent an event that ${what}: ${JSON.stringify(quoted)}. The stream was stopped.`,
    { retryable: false },
  );
}

/**
 * An upstream's events, each through `map`: the event to relay (the same object when it needs no
 * change), `undefined` to drop it, or an `UpstreamError` that ends the stream (the iterator
 * rejects with it after the events before it). Keeps the source's batching (`takeBuffered`).
 * A plain iterator rather than an async generator: an idle open stream holds it (bench/memory).
 */
export abstract class MappedEvents implements AsyncIterableIterator<UpstreamEvent>, BufferedEventSource {
  readonly #source: AsyncIterator<UpstreamEvent>;
  /** An error found among buffered events: `next()` rejects with it after those before it. */
  #failure: UpstreamError | undefined;
  #ended = false;

  constructor(source: AsyncIterator<UpstreamEvent>) {
    this.#source = source;
  }

  /** What one upstream event becomes (called once per event, in order). */
  protected abstract map(event: UpstreamEvent): UpstreamEvent | UpstreamError | undefined;

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<UpstreamEvent>> {
    const failure = this.#failure;
    if (failure !== undefined) {
      this.#failure = undefined;
      this.#ended = true;
      return Promise.reject(failure);
    }
    if (this.#ended) return Promise.resolve(ITERATION_DONE);
    return this.#source.next().then(this.#onResult);
  }

  readonly #onResult = (
    result: IteratorResult<UpstreamEvent>,
  ): IteratorResult<UpstreamEvent> | Promise<IteratorResult<UpstreamEvent>> => {
    if (result.done) return result;
    const mapped = this.map(result.value);
    if (mapped instanceof UpstreamError) {
      this.#ended = true;
      throw mapped;
    }
    if (mapped !== undefined) return { done: false, value: mapped };
    // Dropped: the next one is pulled by one loop, so a long run of pings does not chain a promise per ping.
    return new Promise((resolve, reject) => this.#pull(resolve, reject));
  };

  #pull(resolve: (result: IteratorResult<UpstreamEvent>) => void, reject: (error: unknown) => void): void {
    this.#source.next().then((result) => {
      if (result.done) return resolve(result);
      const mapped = this.map(result.value);
      if (mapped instanceof UpstreamError) {
        this.#ended = true;
        return reject(mapped);
      }
      if (mapped === undefined) return this.#pull(resolve, reject);
      resolve({ done: false, value: mapped });
    }, reject);
  }

  takeBuffered(): readonly UpstreamEvent[] {
    if (this.#ended || this.#failure !== undefined) return NO_EVENTS;
    const events = takeBuffered(this.#source);
    // The common case, every event relayed as it came, hands the source's array on as it is.
    let out: UpstreamEvent[] | undefined;
    for (let index = 0; index < events.length; index++) {
      const event = events[index] as UpstreamEvent;
      const mapped = this.map(event);
      if (mapped === event && out === undefined) continue;
      out ??= events.slice(0, index);
      if (mapped instanceof UpstreamError) {
        this.#failure = mapped;
        break;
      }
      if (mapped !== undefined) out.push(mapped);
    }
    return out ?? events;
  }

  return(): Promise<IteratorResult<UpstreamEvent>> {
    this.#ended = true;
    this.#failure = undefined;
    return this.#source.return?.() ?? Promise.resolve(ITERATION_DONE);
  }
}

/** What one upstream event becomes, given the provider's name (for the error that names it). */
export type EventMapper = (
  event: UpstreamEvent,
  provider: string,
) => UpstreamEvent | UpstreamError | undefined;

/** An upstream's events, each through a module-level `EventMapper` (no closure per stream). */
export class ProviderMappedEvents extends MappedEvents {
  readonly #provider: string;
  readonly #mapEvent: EventMapper;

  constructor(source: AsyncIterator<UpstreamEvent>, provider: string, mapEvent: EventMapper) {
    super(source);
    this.#provider = provider;
    this.#mapEvent = mapEvent;
  }

  protected map(event: UpstreamEvent): UpstreamEvent | UpstreamError | undefined {
    return this.#mapEvent(event, this.#provider);
  }
}

import { ITERATION_DONE } from '../iteration.js';
import type { PackedEvents } from './packed-events.js';
import { evictedError, SpoolReadError, type StreamMeta } from './store.js';
import { WakeableReader } from './wakeable-reader.js';

/** One stream as the memory store holds it. */
export interface MemoryRecord {
  meta: StreamMeta;
  /** Retained events of a live stream; `events[i]` has id `firstId + i`. */
  events: string[];
  /** The events of a finished stream (then `events` is empty); `packed` event i has id `firstId + i`. */
  packed: PackedEvents | undefined;
  firstId: number;
  bytes: number;
  ended: boolean;
  /**
   * The readers waiting for the next event (created when the first one waits). An array: there is
   * nearly always one, and a Set's hash table costs ~160 bytes more per open stream.
   */
  wakers: MemoryReader[] | undefined;
}

/** Where a reader finds its stream again after a wait (the store may have swept it meanwhile). */
export interface MemoryRecordSource {
  /** The stream's record, or the error a reader of a stream no longer held ends with. */
  lookup(streamId: string): MemoryRecord | SpoolReadError;
}

/** One reader of the memory store: replays the events after its cursor, then waits for the next append. */
export class MemoryReader extends WakeableReader {
  readonly #source: MemoryRecordSource;
  readonly #streamId: string;
  #cursor: number;
  #record: MemoryRecord | undefined;

  constructor(source: MemoryRecordSource, streamId: string, afterId: number) {
    super();
    this.#source = source;
    this.#streamId = streamId;
    this.#cursor = afterId;
  }

  /**
   * What the reader can answer now: the events after its cursor, the end, or `undefined` when it
   * must wait (then it is registered as a waker). Throws the error the read ends with.
   */
  protected poll(): IteratorResult<string> | undefined {
    const found = this.#source.lookup(this.#streamId);
    if (found instanceof SpoolReadError) throw found;
    const record = found;
    this.#record = record;
    const cursor = this.#cursor;
    if (cursor + 1 < record.firstId) {
      throw evictedError(this.#streamId, cursor, record.firstId);
    }
    const from = cursor + 1 - record.firstId;
    if (record.packed) {
      const rest = record.packed.textFrom(from);
      this.close();
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
      this.close();
      return ITERATION_DONE;
    }
    // A literal of one, not a push onto [] (that reserves room for seventeen).
    if (record.wakers) record.wakers.push(this);
    else record.wakers = [this];
    return undefined;
  }

  protected release(): void {
    const wakers = this.#record?.wakers;
    const index = wakers === undefined ? -1 : wakers.indexOf(this);
    if (index >= 0) wakers?.splice(index, 1);
    this.#record = undefined;
  }
}

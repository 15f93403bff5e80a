/**
 * Parses a `Last-Event-ID` value (header or query) into the last event number a client has seen.
 * Spool numbers events 1, 2, 3 … so a valid value is a non-negative integer; `undefined` or an
 * empty value means "from the start" (0).
 * @returns the number, or `null` when the value is present but not a valid event id.
 */
export function parseLastEventId(value: string | null | undefined): number | null {
  if (value === undefined || value === null) return 0;
  const trimmed = value.trim();
  if (trimmed === '') return 0;
  if (!/^\d{1,15}$/.test(trimmed)) return null;
  return Number(trimmed);
}

/**
 * Keeps the highest event id a reader has delivered, so that replayed events at or below it are
 * dropped and a resume asks for exactly the rest.
 */
export class EventIdTracker {
  #last: number;

  /** @param startAfter the last id already delivered (0 = none). */
  constructor(startAfter = 0) {
    this.#last = startAfter;
  }

  /** The highest id accepted so far (0 before the first). */
  get lastEventId(): number {
    return this.#last;
  }

  /**
   * Decides whether an event is new. Events without a numeric id (non-Spool upstreams) are always
   * accepted; numbered events at or below the last accepted id are duplicates from a replay.
   */
  accept(id: string | number | undefined): boolean {
    if (id === undefined || id === '') return true;
    const n = typeof id === 'number' ? id : parseLastEventId(id);
    if (n === null) return true;
    if (n <= this.#last) return false;
    this.#last = n;
    return true;
  }
}

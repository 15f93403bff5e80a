/** One spooled event as the SSE stream shows it: its `id:`, its `event:` when it has one, its data. */
export interface StoredEvent {
  /** The `id:` field as written on the SSE stream (a string, as EventSource reports it). */
  id?: string;
  /** The `event:` field, when the event has one (Responses and Messages streams name theirs). */
  event?: string;
  /** The data lines joined with `\n`, as EventSource's `MessageEvent.data`. */
  data: string;
}

/**
 * Splits spooled bytes (whole events the gateway encoded, each ending with a blank line) into the
 * fields of each event, as an EventSource would see them (WHATWG HTML §9.2.6: `data` lines joined
 * with `\n`, one leading space stripped from a value, comments and `retry:` ignored). A field-level
 * reading rather than the upstream `SseParser`: that one reads past `id`, which is what a long-poll
 * answer must carry, and the spool only ever holds what `encodeEvent` wrote (LF line ends), so a
 * block is an event. Bounded by what the caller hands it (a read's batches, capped in bytes).
 * @returns the events in order; a trailing block without its blank line is not an event and is left out.
 */
export function parseStoredEvents(text: string): StoredEvent[] {
  const events: StoredEvent[] = [];
  let position = 0;
  for (let end = text.indexOf('\n\n', position); end >= 0; end = text.indexOf('\n\n', position)) {
    const event = parseBlock(text, position, end);
    if (event) events.push(event);
    position = end + 2;
  }
  return events;
}

/** The number of whole events (blank-line-terminated blocks) in spooled bytes. */
export function countStoredEvents(text: string): number {
  let count = 0;
  for (let found = text.indexOf('\n\n'); found >= 0; found = text.indexOf('\n\n', found + 2)) count++;
  return count;
}

/** The offset just past the `count`-th whole event of spooled bytes (0 for none), or -1 when they hold fewer. */
export function storedEventsEnd(text: string, count: number): number {
  let position = 0;
  for (let seen = 0; seen < count; seen++) {
    const found = text.indexOf('\n\n', position);
    if (found < 0) return -1;
    position = found + 2;
  }
  return position;
}

function parseBlock(text: string, start: number, end: number): StoredEvent | undefined {
  let id: string | undefined;
  let event: string | undefined;
  let data: string | undefined;
  let lineStart = start;
  while (lineStart <= end) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    const line = text.slice(lineStart, lineEnd);
    lineStart = lineEnd + 1;
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') data = data === undefined ? value : `${data}\n${value}`;
    else if (name === 'id' && !value.includes('\0')) id = value;
    else if (name === 'event') event = value;
  }
  // A block of only comments or `retry:` is no event (§9.2.6: an empty data buffer dispatches nothing).
  if (data === undefined) return undefined;
  // Built in wire order (id, event, data), which is how the JSON answer lists them.
  const parsed: StoredEvent = id === undefined ? ({} as StoredEvent) : ({ id } as StoredEvent);
  if (event !== undefined) parsed.event = event;
  parsed.data = data;
  return parsed;
}

/** Query parameter of a long-poll read: the offset (spool event number) the client has read up to. */
export const LONG_POLL_AFTER_QUERY = 'after';
/** Query parameter of a long-poll read: the most seconds to hold the read open when nothing is new. */
export const LONG_POLL_WAIT_QUERY = 'wait';
/** Request header (RFC 7240) through which a POST asks for the stream id instead of the stream. */
export const PREFER_HEADER = 'prefer';
/** The `Prefer` token (RFC 7240 §4.1) a POST sends to be answered 202 with its stream id at once. */
export const RESPOND_ASYNC = 'respond-async';

/** One event of a long-poll answer: what the SSE stream shows for it. */
export interface LongPollEvent {
  /** The event's `id:` line as the SSE stream has it (a string, as EventSource reports it). */
  id?: string;
  /** The event's `event:` line, when it has one. */
  event?: string;
  /** Its data lines joined with `\n`. */
  data: string;
}

/** The body of a long-poll read (`GET /v1/streams/{id}?after=n&wait=s`). */
export interface LongPollAnswer {
  object: 'stream.events';
  /** The stream read. */
  stream_id: string;
  /** The events after `after`, in order; empty when the wait ran out (or the read was cut short). */
  events: LongPollEvent[];
  /** The `after` of the next read: the spool offset just past the last event answered. */
  next_after: number;
  /** The stream has ended and `events` holds its last event (or it had none left). */
  ended: boolean;
}

/** The body of a POST answered `202 Accepted` under `Prefer: respond-async`. */
export interface StreamAccepted {
  object: 'stream';
  /** The stream id (also in `X-Stream-Id`). */
  id: string;
  /** Where to long-poll it from the start. */
  poll_url: string;
}

/** Whether a `Prefer` header value asks for `respond-async` (RFC 7240: comma-separated, case-insensitive tokens). */
export function prefersRespondAsync(value: string | readonly string[] | undefined): boolean {
  if (value === undefined) return false;
  const text = typeof value === 'string' ? value : value.join(',');
  if (text.length > 1024) return false;
  return text
    .split(',')
    .some((preference) => (preference.split(';')[0] ?? '').trim().toLowerCase() === RESPOND_ASYNC);
}

/** One server-sent event as Spool writes it. */
export interface SseEvent {
  /** The event number; Spool always sets one (WHATWG SSE §9.2.6 "id" field). */
  id?: number | string;
  /** Optional event type; most OpenAI-style streams leave it unset. */
  event?: string;
  /** The payload; embedded newlines become several `data:` lines. */
  data: string;
}

/** Whether a field holds a CR or LF: two single-character searches, several times faster than `/[\r\n]/` on every event's data. */
function hasLineBreak(text: string): boolean {
  return text.indexOf('\n') !== -1 || text.indexOf('\r') !== -1;
}

/** Thrown when an event name or id would break the SSE framing (header/event injection). */
export class SseFieldError extends Error {
  readonly code = 'invalid_sse_field';
  constructor(field: string) {
    super(`SSE ${field} must not contain CR or LF characters`);
    this.name = 'SseFieldError';
  }
}

/**
 * Encodes one event as SSE text, ending with the blank line that dispatches it.
 * A CR, LF or CRLF inside `data` splits it over several `data:` lines, which a conforming parser
 * joins back with LF (WHATWG SSE §9.2.6).
 * @example encodeEvent({ id: 3, data: '{"x":1}' }) // 'id: 3\ndata: {"x":1}\n\n'
 */
export function encodeEvent(event: SseEvent): string {
  let out = '';
  if (event.id !== undefined) {
    const id = String(event.id);
    if (typeof event.id === 'string' && (hasLineBreak(id) || id.includes('\0')))
      throw new SseFieldError('id');
    out += `id: ${id}\n`;
  }
  if (event.event !== undefined) {
    if (hasLineBreak(event.event)) throw new SseFieldError('event');
    out += `event: ${event.event}\n`;
  }
  const data = event.data;
  if (hasLineBreak(data)) {
    for (const line of data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  } else {
    out += `data: ${data}\n`;
  }
  return `${out}\n`;
}

/** Encodes a comment line, which parsers ignore and proxies see as traffic (a heartbeat). */
export function encodeComment(text = 'ping'): string {
  if (hasLineBreak(text)) throw new SseFieldError('comment');
  return `: ${text}\n\n`;
}

/** Encodes a `retry:` field telling native EventSource how long to wait before reconnecting. */
export function encodeRetry(delayMs: number): string {
  return `retry: ${Math.max(0, Math.floor(delayMs))}\n\n`;
}

/** The OpenAI end-of-stream sentinel carried in the last event's data. */
export const DONE_DATA = '[DONE]';

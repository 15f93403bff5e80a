import { createParser } from 'eventsource-parser';
import type { UpstreamEvent } from './provider.js';

/**
 * Turns a byte stream of SSE into events, pulling the next chunk only when the consumer asks for
 * the next event, so a slow consumer pauses the upstream socket instead of buffering it.
 */
export async function* readSseEvents(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<UpstreamEvent> {
  const decoder = new TextDecoder();
  const pending: UpstreamEvent[] = [];
  const parser = createParser({
    onEvent(message) {
      pending.push({ data: message.data, event: message.event });
    },
  });
  for await (const chunk of body) {
    parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    while (pending.length > 0) yield pending.shift() as UpstreamEvent;
  }
  parser.feed(decoder.decode());
  // A final event without its blank line is incomplete by the spec (WHATWG SSE §9.2.6): dropped.
  while (pending.length > 0) yield pending.shift() as UpstreamEvent;
}

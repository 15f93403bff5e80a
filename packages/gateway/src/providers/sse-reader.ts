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

/** A response body as undici gives it: iterable without destroying on early exit, and drainable. */
export interface DrainableBody extends AsyncIterable<Uint8Array> {
  iterator(options: { destroyOnReturn: boolean }): AsyncIterableIterator<Uint8Array>;
  dump(options?: { limit: number; signal?: AbortSignal }): Promise<void>;
}

/**
 * Reads a response body's events; when the consumer stops early (a `[DONE]` it has seen, a Stop),
 * the rest of the body is drained (bounded in bytes and time) rather than the socket destroyed, so the connection goes
 * back to the pool and no abort error is built and thrown away on every finished stream.
 */
export async function* readBodyEvents(body: DrainableBody): AsyncGenerator<UpstreamEvent> {
  try {
    yield* readSseEvents(body.iterator({ destroyOnReturn: false }));
  } finally {
    // Not awaited: an upstream that keeps the body open after its last event must not hold up the
    // end of the stream; after a second its socket is destroyed instead of reused.
    body.dump({ limit: 64 * 1024, signal: AbortSignal.timeout(1000) }).catch(() => {});
  }
}

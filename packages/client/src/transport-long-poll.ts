import {
  encodeEvent,
  LAST_EVENT_ID_HEADER,
  LONG_POLL_AFTER_QUERY,
  LONG_POLL_WAIT_QUERY,
  type LongPollAnswer,
  PREFER_HEADER,
  RESPOND_ASYNC,
  STREAM_ID_HEADER,
  type StreamAccepted,
} from '@spool/protocol';
import type { ChunkHandler, Transport, TransportResponse } from './transport.js';
import { utf8ByteLength } from './transport.js';
import { type FetchLike, toTransportResponse } from './transport-fetch.js';
import { isStreamUrl } from './transport-long-pollable.js';

/** Options of {@link createLongPollTransport}. */
export interface LongPollTransportOptions {
  /** The `fetch` for the POST and the reads (it need not stream). @default globalThis.fetch */
  fetch?: FetchLike;
  /**
   * Seconds the gateway may hold each read open with nothing new (it caps them at
   * `server.longPollMaxWaitMs`); below the idle timeouts of proxies on the way.
   * @default 20
   */
  waitSeconds?: number;
}

/** Request headers that belong to the POST or the SSE read, not to a long-poll read. */
const NOT_FOR_READS = new Set(['content-type', 'idempotency-key', LAST_EVENT_ID_HEADER, PREFER_HEADER]);

/**
 * A transport that reads a Spool stream by long-poll (`GET /v1/streams/{id}?after=n&wait=s`)
 * rather than one streamed response, for networks whose proxies buffer event streams. A POST is
 * sent with `Prefer: respond-async` (answered 202 with the stream id at once), a resume `GET` of a
 * stream becomes long-poll reads from its `Last-Event-ID`, and the events are handed to the engine
 * as the event stream would carry them: same events, ids, stats, Stop and resume. Each answer is a
 * whole JSON body, which buffering proxies pass intact. Other requests (`DELETE`, a server that
 * ignores the preference) pass through as plain fetches.
 */
export function createLongPollTransport(options: LongPollTransportOptions = {}): Transport {
  const waitSeconds = options.waitSeconds ?? 20;
  return async (request) => {
    const doFetch = options.fetch ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init));
    const readHeaders = headersForReads(request.headers);
    // Each answer, events or none, is traffic for the caller's idle watchdog: wait well within it.
    const idleMs = request.idleTimeoutMs ?? 0;
    const wait = idleMs > 0 ? Math.min(waitSeconds, Math.floor(idleMs / 2) / 1000) : waitSeconds;
    const afterHeader = request.headers[LAST_EVENT_ID_HEADER] ?? request.headers['Last-Event-ID'];
    const after = request.deliveredCount ?? (afterHeader === undefined ? 0 : Number(afterHeader) || 0);
    if (request.method === 'POST') {
      const response = await doFetch(request.url, {
        method: 'POST',
        headers: { ...request.headers, [PREFER_HEADER]: RESPOND_ASYNC },
        body: request.body,
        signal: request.signal,
      });
      if (response.status !== 202) return toTransportResponse(response);
      const accepted = (await response.json()) as StreamAccepted;
      const streamId = response.headers.get(STREAM_ID_HEADER) ?? accepted.id;
      const streamUrl = new URL(response.headers.get('location') ?? accepted.poll_url, request.url);
      streamUrl.search = '';
      const reads = new LongPollReads(doFetch, streamUrl.href, readHeaders, wait, request.signal);
      return reads.response(streamId, after, response.headers.get('x-request-id'));
    }
    if (request.method === 'GET' && (request.longPollUrl !== undefined || isStreamUrl(request.url))) {
      const streamUrl = new URL(request.longPollUrl ?? request.url);
      streamUrl.search = '';
      const reads = new LongPollReads(doFetch, streamUrl.href, readHeaders, wait, request.signal);
      // The first read answers now, so a 404 or 410 comes back as the response the engine judges.
      const first = await reads.fetchAnswer(after, 0);
      // A 204 (nothing left) or an error status is answered as the SSE read would answer it.
      if (first.response.status !== 200) return toTransportResponse(first.response);
      const streamId = streamUrl.pathname.split('/').pop() ?? '';
      return reads.response(streamId, after, first.response.headers.get('x-request-id'), first.answer);
    }
    return toTransportResponse(
      await doFetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal: request.signal,
      }),
    );
  };
}

function headersForReads(headers: Record<string, string>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!NOT_FOR_READS.has(name.toLowerCase())) kept[name] = value;
  }
  return kept;
}

/** Encodes one long-poll event as the event stream would have carried it. */
function toSse(event: LongPollAnswer['events'][number]): string {
  return encodeEvent({ id: event.id, event: event.event, data: event.data });
}

/** The long-poll reads of one stream, from one offset, until it ends or the engine stops reading. */
class LongPollReads {
  constructor(
    readonly fetch: FetchLike,
    readonly streamUrl: string,
    readonly headers: Record<string, string>,
    readonly waitSeconds: number,
    readonly signal: AbortSignal,
  ) {}

  /** One read: the response and, when it is a 200, its answer. */
  async fetchAnswer(
    after: number,
    waitSeconds: number,
  ): Promise<{ response: Response; answer?: LongPollAnswer }> {
    const url = `${this.streamUrl}?${LONG_POLL_AFTER_QUERY}=${after}&${LONG_POLL_WAIT_QUERY}=${waitSeconds}`;
    const response = await this.fetch(url, { method: 'GET', headers: this.headers, signal: this.signal });
    if (response.status !== 200) return { response };
    return { response, answer: (await response.json()) as LongPollAnswer };
  }

  /** A response the engine reads as an event stream, fed by reads from `after` (the first one given). */
  response(
    streamId: string,
    after: number,
    requestId: string | null,
    first?: LongPollAnswer,
  ): TransportResponse {
    const headers = new Map<string, string>([
      ['content-type', 'text/event-stream'],
      [STREAM_ID_HEADER, streamId],
    ]);
    if (requestId) headers.set('x-request-id', requestId);
    return {
      status: 200,
      headers: { get: (name) => headers.get(name.toLowerCase()) ?? null },
      read: (onChunk) => this.#readAll(after, first, onChunk),
    };
  }

  async #readAll(after: number, first: LongPollAnswer | undefined, onChunk: ChunkHandler): Promise<void> {
    let answer = first;
    let offset = after;
    for (;;) {
      if (answer === undefined) {
        const read = await this.fetchAnswer(offset, this.waitSeconds);
        // A 204 is a stream that ended before `offset`; any other status is a drop the engine resumes.
        if (read.response.status === 204) return;
        if (read.answer === undefined) throw new Error(`long-poll read answered ${read.response.status}`);
        answer = read.answer;
      }
      const text = answer.events.map(toSse).join('');
      // An empty answer still counts as traffic for the engine's idle watchdog.
      if (onChunk(text, utf8ByteLength(text)) === false) return;
      if (answer.ended) return;
      offset = answer.next_after;
      answer = undefined;
    }
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  LONG_POLL_AFTER_QUERY,
  LONG_POLL_WAIT_QUERY,
  type LongPollAnswer,
  parseLastEventId,
  REQUEST_ID_HEADER,
  STREAM_ID_HEADER,
} from '@spool/protocol';
import type { GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import { sendJson } from '../http/respond.js';
import { SpoolReadError, type SpoolReader, StoreUnavailableError, type StreamMeta } from '../spool/store.js';
import type { Surface } from '../surfaces/surface.js';
import { surfaceOf } from '../surfaces/surfaces.js';
import { readyToReplay } from './serve-stream.js';
import { countStoredEvents, parseStoredEvents } from './stored-events.js';

/** Seconds with up to three decimals, at most six digits before the point. */
const WAIT_PATTERN = /^\d{1,6}(\.\d{1,3})?$/;

/** What a long-poll read asks for, checked and bounded. */
export interface LongPollQuery {
  /** The spool offset read up to: events after it are answered. */
  afterId: number;
  /** How long to hold the read open with nothing new, capped at `server.longPollMaxWaitMs`. */
  waitMs: number;
}

/** Whether a `GET /v1/streams/{id}` asks for a long-poll read (JSON) rather than the event stream. */
export function isLongPollRead(query: URLSearchParams): boolean {
  return query.has(LONG_POLL_AFTER_QUERY) || query.has(LONG_POLL_WAIT_QUERY);
}

/**
 * Reads `after` (a non-negative integer, default 0) and `wait` (seconds, default 0: answer at
 * once) of a long-poll read; `wait` is capped at `maxWaitMs`. Throws `invalid_request` (400) naming
 * the parameter otherwise.
 */
export function parseLongPollQuery(query: URLSearchParams, maxWaitMs: number): LongPollQuery {
  const rawAfter = query.get(LONG_POLL_AFTER_QUERY);
  const afterId = rawAfter === null ? 0 : parseLastEventId(rawAfter);
  if (afterId === null || (rawAfter !== null && rawAfter.trim() === '')) {
    throw GatewayError.of('invalid_request', `after must be a non-negative integer, got "${rawAfter}".`, {
      param: LONG_POLL_AFTER_QUERY,
    });
  }
  const rawWait = query.get(LONG_POLL_WAIT_QUERY);
  if (rawWait !== null && !WAIT_PATTERN.test(rawWait)) {
    throw GatewayError.of('invalid_request', `wait must be a number of seconds, got "${rawWait}".`, {
      param: LONG_POLL_WAIT_QUERY,
    });
  }
  const waitMs = rawWait === null ? 0 : Math.min(Math.round(Number(rawWait) * 1000), maxWaitMs);
  return { afterId, waitMs };
}

/**
 * The long-poll read of a found, owned stream: answers as soon as at least one event after `after`
 * is spooled, or after `wait` seconds with none, as one JSON body (`LongPollAnswer`) any buffering
 * proxy passes intact. Waiting costs one reader registered for the store's wake-up and one timer,
 * no polling. Resolves once the read is under way (it answers itself); errors found before it
 * starts are thrown for the route to send.
 */
export async function handleLongPollRead(
  context: GatewayContext,
  request: IncomingMessage,
  response: ServerResponse,
  meta: StreamMeta,
  requestId: string,
  query: URLSearchParams,
): Promise<void> {
  const { afterId, waitMs } = parseLongPollQuery(query, context.config.server.longPollMaxWaitMs);
  const headers = {
    'cache-control': 'no-store',
    [STREAM_ID_HEADER]: meta.id,
    [REQUEST_ID_HEADER]: requestId,
  };
  if (isEnded(meta) && meta.lastId !== undefined && afterId >= meta.lastId) {
    // Answered in JSON rather than readyToReplay's 204, so the one reply shape says the stream ended.
    answer(response, headers, { afterId, text: '', ended: true });
    return;
  }
  // Waits out a pending start, answers the error of a start that failed, refuses an evicted offset
  // (410); a 204 still means the stream ended before `after`.
  const ready = await readyToReplay(context, meta, afterId, response, requestId);
  context.metrics.resumes.inc({ via: 'long_poll' });
  if (!ready) return;
  request.socket.setNoDelay(true);
  // Answered from the read's callbacks: a waiting read holds no suspended frame or promise (bench/resume).
  new LongPollRead(context, response, meta.id, afterId, waitMs, headers, surfaceOf(meta.surface).sendError);
}

function isEnded(meta: StreamMeta): boolean {
  return meta.state === 'done' || meta.state === 'error' || meta.state === 'cancelled';
}

function answer(
  response: ServerResponse,
  headers: Record<string, string>,
  outcome: { afterId: number; text: string; ended: boolean },
): void {
  const body: LongPollAnswer = {
    object: 'stream.events',
    stream_id: headers[STREAM_ID_HEADER] as string,
    events: parseStoredEvents(outcome.text),
    next_after: outcome.afterId + countStoredEvents(outcome.text),
    ended: outcome.ended,
  };
  sendJson(response, 200, body, headers);
}

/**
 * One waiting long-poll read: pulls the first batch (waiting on the reader's wake-up), then takes
 * whatever else the reader hands over at once, up to `server.longPollMaxBytes`. It ends early,
 * with what it has, when the client leaves or the gateway drains (`abort`, so a shared store's
 * client reads on at another instance).
 */
class LongPollRead {
  readonly #context: GatewayContext;
  readonly #headers: Record<string, string>;
  readonly #afterId: number;
  readonly #streamId: string;
  readonly #reader: SpoolReader;
  readonly #maxBytes: number;
  readonly #timer: NodeJS.Timeout;
  readonly #response: ServerResponse;
  /** Answers a failed read in the shape of the surface the stream was started on. */
  readonly #sendError: Surface['sendError'];
  #text = '';
  #settled = false;
  readonly #onClose = () => this.abort();
  readonly #onBatch = (result: IteratorResult<string>) => this.#take(result);
  readonly #onError = (error: unknown) => this.#failed(error);

  constructor(
    context: GatewayContext,
    response: ServerResponse,
    streamId: string,
    afterId: number,
    waitMs: number,
    headers: Record<string, string>,
    sendError: Surface['sendError'],
  ) {
    this.#context = context;
    this.#sendError = sendError;
    this.#response = response;
    this.#streamId = streamId;
    this.#afterId = afterId;
    this.#headers = headers;
    this.#maxBytes = context.config.server.longPollMaxBytes;
    this.#timer = setTimeout(() => this.abort(), waitMs);
    response.on('close', this.#onClose);
    context.readers.add(this);
    context.metrics.streamsOpen.inc();
    context.relay.readerAttached(streamId);
    this.#reader = context.store.read(streamId, afterId);
    this.#reader.pull(this.#onBatch, this.#onError);
  }

  /** Ends the read with what it has (the wait ran out, the client left, the gateway drains). */
  abort(): void {
    this.#settle(false);
  }

  #take(result: IteratorResult<string>): void {
    if (this.#settled) return;
    if (result.done) {
      this.#settle(true);
      return;
    }
    this.#text += result.value;
    if (this.#text.length >= this.#maxBytes) {
      this.#settle(false);
      return;
    }
    // Whatever else the reader holds comes before `pull` returns (the end of a finished stream
    // too); a reader that would wait means this read has all there is now.
    this.#reader.pull(this.#onBatch, this.#onError);
    if (!this.#settled) this.#settle(false);
  }

  #failed(error: unknown): void {
    if (this.#settled) return;
    // Events already read are answered; the next read meets the error again and is told it.
    if (this.#text !== '') {
      this.#settle(false);
      return;
    }
    this.#settle(false, readError(this.#context, this.#streamId, error));
  }

  /** Lets go of the read and answers: the events collected (`ended`: they end the stream), or `error`. */
  #settle(ended: boolean, error?: GatewayError): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#response.off('close', this.#onClose);
    const context = this.#context;
    context.readers.delete(this);
    context.metrics.streamsOpen.dec();
    context.relay.readerDetached(this.#streamId);
    this.#reader.return?.().catch(() => {});
    if (error) this.#sendError(this.#response, error, this.#headers);
    else answer(this.#response, this.#headers, { afterId: this.#afterId, text: this.#text, ended });
  }
}

/** The HTTP error a failed read answers: 404/410 as the SSE read's, 503 when the store is down. */
function readError(context: GatewayContext, streamId: string, error: unknown): GatewayError {
  if (error instanceof SpoolReadError) {
    return GatewayError.of(
      error.reason === 'not_found' ? 'stream_not_found' : 'stream_expired',
      error.message,
    );
  }
  if (!(error instanceof StoreUnavailableError))
    context.log.error({ err: error, streamId }, 'long-poll read failed');
  return GatewayError.of('store_unavailable', 'The spool could not be read; read the stream again shortly.', {
    retryAfterSeconds: 1,
  });
}

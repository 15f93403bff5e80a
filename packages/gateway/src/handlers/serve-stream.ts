import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  encodeEvent,
  encodeRetry,
  errorBody,
  REQUEST_ID_HEADER,
  SSE_RESPONSE_HEADERS,
  STREAM_ID_HEADER,
} from '@spool/protocol';
import type { GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import { flattenString } from '../relay/flatten-string.js';
import { SpoolReadError, type SpoolReader, type StreamMeta } from '../spool/store.js';
import { CHAT_EVENTS } from '../surfaces/chat/chat-events.js';
import type { EventPolicy } from '../surfaces/surface.js';
import {
  ClientConnection,
  type Downstream,
  type DownstreamWrapper,
  type ServedReader,
  UNWRAPPED,
} from './downstream.js';
import { countStoredEvents } from './stored-events.js';

const PENDING_POLL_MS = [5, 10, 20, 50, 100] as const;

/**
 * Everything between finding a stream and replaying it, shared by `GET /v1/streams/{id}` and a POST
 * that attaches by Idempotency-Key: wait out a pending start (until the client leaves), answer the
 * error a failed start recorded, refuse (410) a resume point the byte cap evicted, and answer 204
 * to a resume point at or past the last event of a finished stream (with `requestId` as `x-request-id`).
 * @returns the stream to serve, or `undefined` when the response was answered (204: nothing to serve).
 */
export async function readyToReplay(
  context: GatewayContext,
  meta: StreamMeta,
  afterId: number,
  response: ServerResponse,
  requestId: string,
): Promise<StreamMeta | undefined> {
  let ready = meta;
  if (ready.state === 'pending') {
    const controller = new AbortController();
    const onClose = () => controller.abort();
    response.once('close', onClose);
    try {
      ready = await waitUntilStarted(context, ready.id, controller.signal);
    } finally {
      response.off('close', onClose);
    }
  }
  const failure = failureError(ready);
  if (failure) throw failure;
  assertReplayable(ready, afterId);
  if (isDelivered(ready, afterId)) {
    answerNoContent(response, ready.id, requestId);
    return undefined;
  }
  return ready;
}

/** Whether the stream has ended and a client at `afterId` already has its last event. */
function isDelivered(meta: StreamMeta, afterId: number): boolean {
  const ended = meta.state === 'done' || meta.state === 'error' || meta.state === 'cancelled';
  return ended && meta.lastId !== undefined && afterId >= meta.lastId;
}

/**
 * Answers 204 No Content: an empty 200 would read as a cut connection and bring the client back
 * forever, while a 204 tells EventSource to stop reconnecting (WHATWG HTML §9.2.3).
 */
function answerNoContent(response: ServerResponse, streamId: string, requestId: string): void {
  response.writeHead(204, {
    'cache-control': 'no-cache',
    [STREAM_ID_HEADER]: streamId,
    [REQUEST_ID_HEADER]: requestId,
  });
  response.end();
}

/**
 * Waits until a stream is no longer pending (its upstream accepted or refused), polling the
 * store so that it works the same for a stream started on another instance.
 */
async function waitUntilStarted(
  context: GatewayContext,
  streamId: string,
  signal: AbortSignal,
): Promise<StreamMeta> {
  for (let attempt = 0; ; attempt++) {
    const meta = await context.store.getMeta(streamId);
    if (meta === undefined) throw GatewayError.of('stream_not_found', `No stream with id ${streamId}.`);
    if (meta === 'expired') throw GatewayError.of('stream_expired', `Stream ${streamId} has expired.`);
    if (meta.state !== 'pending') return meta;
    if (signal.aborted) throw signal.reason;
    const waitMs = PENDING_POLL_MS[Math.min(attempt, PENDING_POLL_MS.length - 1)] as number;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

/** Turns a failure recorded on a stream that never started into the error its retries answer. */
function failureError(meta: StreamMeta): GatewayError | undefined {
  if (!meta.failure) return undefined;
  const { status, body, retryAfterSeconds } = meta.failure;
  return new GatewayError(status, body as GatewayError['body'], { retryAfterSeconds });
}

/** Refuses (410) a resume point whose events the byte cap already evicted, before any byte is sent. */
function assertReplayable(meta: StreamMeta, afterId: number): void {
  const firstId = meta.firstId ?? 1;
  if (afterId + 1 < firstId) {
    throw GatewayError.of(
      'stream_expired',
      `Events ${afterId + 1}-${firstId - 1} of stream ${meta.id} were evicted (spool.maxStreamBytes); start a new request.`,
    );
  }
}

/**
 * Commits a 200 event stream and starts writing the stream's events after `afterId`: replay, then
 * live tail, at the pace the client reads (a full socket pauses the reader; nothing piles up here),
 * through `wrap` around the client's connection when one is given (a request's fault).
 * Returns once serving has started: the stream is served by callbacks, not by a suspended frame.
 */
export function serveStream(
  context: GatewayContext,
  request: IncomingMessage,
  response: ServerResponse,
  streamId: string,
  afterId: number,
  requestId: string,
  extraHeaders: Readonly<Record<string, string>>,
  wrap: DownstreamWrapper = UNWRAPPED,
  events: EventPolicy = CHAT_EVENTS,
): void {
  response.writeHead(200, {
    ...SSE_RESPONSE_HEADERS,
    ...extraHeaders,
    [STREAM_ID_HEADER]: streamId,
    [REQUEST_ID_HEADER]: requestId,
  });
  // node:http builds the header block by concatenation and keeps it (`_header`) for the life of the
  // response: a rope of some forty parts, about 1.3 KB of every open stream until flattened.
  const header = (response as { _header?: unknown })._header;
  if (typeof header === 'string') flattenString(header);
  // Disable Nagle: each event should leave as soon as it is written.
  request.socket.setNoDelay(true);
  const connection = new ClientConnection(
    response,
    context.heartbeats,
    context.config.server.slowClientTimeoutMs,
  );
  new ServedStream(context, connection, wrap(connection), streamId, afterId, events).pull();
}

/**
 * One client's event stream while it is served: what serving needs, in one object, driven by the
 * reader's callbacks (`pull`) rather than a `for await` loop, whose suspended frame (and the
 * promises of its await) an idle stream would hold for its whole life (bench/memory), and which
 * would cost a promise and a microtask per batch.
 */
class ServedStream implements ServedReader {
  readonly #context: GatewayContext;
  /** The client's response: the retry hint, a read error and the end are written here. */
  readonly #connection: ClientConnection;
  /** Where the events go: the connection, or a wrapper around it. */
  readonly #downstream: Downstream;
  readonly #streamId: string;
  readonly #events: EventPolicy;
  readonly #reader: SpoolReader;
  /** Set when the client left or the gateway ended the stream: the read ends, and quietly. */
  #aborted = false;
  readonly #onClose = () => this.abort();
  // Called by the reader, possibly inside the append that woke it: nothing may be thrown back at
  // the generation that appended.
  readonly #onBatch = (result: IteratorResult<string>) => {
    try {
      this.#take(result);
    } catch (error) {
      this.#broken(error);
    }
  };
  readonly #onReadError = (error: unknown) => {
    try {
      this.#end(error);
    } catch (endError) {
      this.#broken(endError);
    }
  };
  #firstBatch: boolean;
  /** A pull is under way in this call stack; `#pullAgain` asks it to pull once more when it returns. */
  #pulling = false;
  #pullAgain = false;
  /** Serving has ended and let go of what it registered. */
  #ended = false;

  constructor(
    context: GatewayContext,
    connection: ClientConnection,
    downstream: Downstream,
    streamId: string,
    afterId: number,
    events: EventPolicy,
  ) {
    this.#context = context;
    this.#events = events;
    this.#connection = connection;
    this.#downstream = downstream;
    this.#streamId = streamId;
    this.#firstBatch = afterId > 0;
    connection.response.on('close', this.#onClose);
    connection.send(encodeRetry(context.config.server.retryMs));
    context.readers.add(this);
    context.metrics.streamsOpen.inc();
    context.relay.readerAttached(streamId);
    this.#reader = context.store.read(streamId, afterId);
  }

  /** Stops reading (a pull that waits gets a done result); the response then ends. */
  abort(): void {
    this.#aborted = true;
    this.#reader.return?.().catch(() => {});
  }

  /**
   * Asks the reader for the next batch. A reader with a batch at hand answers before `pull`
   * returns, and that answer asks for the next one: a loop here rather than a recursion as deep as
   * the batches a reader hands over without waiting.
   */
  pull(): void {
    if (this.#pulling) {
      this.#pullAgain = true;
      return;
    }
    this.#pulling = true;
    try {
      do {
        this.#pullAgain = false;
        this.#reader.pull(this.#onBatch, this.#onReadError);
      } while (this.#pullAgain);
    } finally {
      this.#pulling = false;
    }
  }

  /** A bug in serving: the connection is cut (the client can resume), the generation goes on. */
  #broken(error: unknown): void {
    this.#context.log.error({ err: error, streamId: this.#streamId }, 'serving a stream failed');
    this.abort();
    this.#release();
    this.#connection.response.destroy();
  }

  /** Writes one batch and asks for the next once the client has room; ends with the read. */
  #take(result: IteratorResult<string>): void {
    // A shared reader may still hand over the batch it was reading when it was stopped.
    if (result.done || this.#aborted) {
      this.#end();
      return;
    }
    try {
      const batch = result.value;
      if (this.#firstBatch) {
        this.#firstBatch = false;
        this.#context.metrics.replayDepth.observe(countStoredEvents(batch));
      }
      this.#downstream.write(batch, this);
    } catch (error) {
      this.stopReading(error);
    }
  }

  /**
   * Ends a read that has not finished (as leaving a `for await` loop does: the reader's `return()`
   * releases it), then the response; `error` is what stopped it, when something failed.
   */
  stopReading(error?: unknown): void {
    const end = () => this.#end(error);
    Promise.resolve(this.#reader.return?.()).then(end, end);
  }

  #writeReadError(error: unknown): void {
    const body =
      error instanceof SpoolReadError
        ? errorBody(error.reason === 'not_found' ? 'stream_not_found' : 'stream_expired', error.message)
        : errorBody('store_unavailable', 'The spool could not be read; resume the stream again shortly.');
    if (!(error instanceof SpoolReadError))
      this.#context.log.error({ err: error, streamId: this.#streamId }, 'spool read failed');
    // Not a spooled event, so it has no id: a client resuming later still asks for the right one.
    const { data, event } = this.#events.errorEvent(body);
    this.#connection.send(encodeEvent({ event, data }));
  }

  /** Ends the response; `error` (when the read failed) is told to a client still there. */
  #end(error?: unknown): void {
    if (this.#ended) return;
    if (error !== undefined && !this.#aborted) this.#writeReadError(error);
    this.#release();
    this.#connection.end();
  }

  /** Lets go of everything serving registered (once). */
  #release(): void {
    if (this.#ended) return;
    this.#ended = true;
    const context = this.#context;
    this.#connection.silence();
    context.readers.delete(this);
    context.metrics.streamsOpen.dec();
    context.relay.readerDetached(this.#streamId);
    this.#connection.response.off('close', this.#onClose);
  }
}

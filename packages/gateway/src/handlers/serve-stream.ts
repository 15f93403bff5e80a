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
import { TurnWriter, waitForDrain } from '../relay/sse-writer.js';
import { SpoolReadError, type StreamMeta } from '../spool/store.js';

/**
 * Why a reader stops when its client leaves. A constant: `abort()` without a reason builds a
 * DOMException with a stack trace, on every stream that ends.
 */
const CLIENT_GONE = Object.freeze(new Error('the client closed the connection'));

const PENDING_POLL_MS = [5, 10, 20, 50, 100] as const;

/**
 * Everything between finding a stream and replaying it, shared by `GET /v1/streams/{id}` and a POST
 * that attaches by Idempotency-Key: wait out a pending start (until the client leaves), answer the
 * error a failed start recorded, refuse (410) a resume point the byte cap evicted, and answer 204
 * to a resume point at or past the last event of a finished stream.
 * @returns the stream to serve, or `undefined` when the response was answered (204: nothing to serve).
 */
export async function readyToReplay(
  context: GatewayContext,
  meta: StreamMeta,
  afterId: number,
  response: ServerResponse,
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
    answerNoContent(response, ready.id);
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
function answerNoContent(response: ServerResponse, streamId: string): void {
  response.writeHead(204, { 'cache-control': 'no-cache', [STREAM_ID_HEADER]: streamId });
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

/** Faults a test or the chat page's network drill asks the gateway to put on the client's connection. */
export interface DownstreamFaults {
  /** Destroy the connection after this many events. */
  cutAfter?: number | undefined;
  /** Stop writing (heartbeats too) after this many events and wait for the client to give up. */
  stallAfter?: number | undefined;
}

/** The offset just past the n-th event of a batch (events end with a blank line), or -1. */
function nthEventEnd(batch: string, n: number): number {
  let position = 0;
  for (let seen = 0; seen < n; seen++) {
    const found = batch.indexOf('\n\n', position);
    if (found < 0) return -1;
    position = found + 2;
  }
  return position;
}

function countEvents(batch: string): number {
  let count = 0;
  for (let found = batch.indexOf('\n\n'); found >= 0; found = batch.indexOf('\n\n', found + 2)) count++;
  return count;
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
 * Commits a 200 event stream and writes the stream's events after `afterId`: replay, then live
 * tail, at the pace the client reads (a full socket pauses the reader; nothing piles up here).
 */
export async function serveStream(
  context: GatewayContext,
  request: IncomingMessage,
  response: ServerResponse,
  streamId: string,
  afterId: number,
  extraHeaders: Record<string, string>,
  faults: DownstreamFaults = {},
): Promise<void> {
  const controller = new AbortController();
  const onClose = () => controller.abort(CLIENT_GONE);
  response.on('close', onClose);
  response.writeHead(200, {
    ...SSE_RESPONSE_HEADERS,
    ...extraHeaders,
    [STREAM_ID_HEADER]: streamId,
    [REQUEST_ID_HEADER]: String(
      response.getHeader(REQUEST_ID_HEADER) ?? extraHeaders[REQUEST_ID_HEADER] ?? '',
    ),
  });
  // node:http builds the header block by concatenation and keeps it (`_header`) for the life of the
  // response: a rope of some forty parts, about 1.3 KB of every open stream until flattened.
  const header = (response as { _header?: unknown })._header;
  if (typeof header === 'string') flattenString(header);
  // What one turn of the event loop produces leaves as one chunk: the headers, the retry hint and
  // the first events together, and so do the last events and the end of the response.
  const writer = new TurnWriter(response);
  const write = (text: string): boolean => writer.write(text);
  write(encodeRetry(context.config.server.retryMs));
  // Disable Nagle: each event should leave as soon as it is written.
  request.socket.setNoDelay(true);
  context.readers.add(controller);
  const heartbeat = context.heartbeats.watch(response);
  context.metrics.streamsOpen.inc();
  let firstBatch = afterId > 0;
  context.relay.readerAttached(streamId);
  const faultAfter = faults.cutAfter ?? faults.stallAfter;
  let eventsLeft = faultAfter ?? Number.POSITIVE_INFINITY;
  try {
    for await (const full of context.store.read(streamId, afterId, controller.signal)) {
      const batch = full;
      if (firstBatch) {
        firstBatch = false;
        context.metrics.replayDepth.observe(countEvents(batch));
      }
      if (faultAfter !== undefined) {
        const end = nthEventEnd(batch, eventsLeft);
        eventsLeft -= countEvents(batch);
        if (end >= 0) {
          heartbeat.stop();
          // Let the bytes (and the headers before them) reach the socket before the cut.
          writer.write(batch.slice(0, end));
          await new Promise<void>((resolve) => writer.flush(resolve));
          if (faults.cutAfter !== undefined) response.destroy();
          else if (!response.destroyed) await new Promise((resolve) => response.once('close', resolve));
          return;
        }
      }
      heartbeat.touch();
      if (!write(batch) && !(await waitForDrain(response, context.config.server.slowClientTimeoutMs))) break;
    }
  } catch (error) {
    if (!controller.signal.aborted) {
      const body =
        error instanceof SpoolReadError
          ? errorBody(error.reason === 'not_found' ? 'stream_not_found' : 'stream_expired', error.message)
          : errorBody('store_unavailable', 'The spool could not be read; resume the stream again shortly.');
      if (!(error instanceof SpoolReadError))
        context.log.error({ err: error, streamId }, 'spool read failed');
      // Not a spooled event, so it has no id: a client resuming later still asks for the right one.
      write(encodeEvent({ data: JSON.stringify(body) }));
    }
  } finally {
    heartbeat.stop();
    context.readers.delete(controller);
    context.metrics.streamsOpen.dec();
    context.relay.readerDetached(streamId);
    response.off('close', onClose);
    writer.flush();
    if (!response.writableEnded) response.end();
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { LAST_EVENT_ID_QUERY } from '@spool/protocol';
import type { Caller } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import { sendJson } from '../http/respond.js';
import type { StreamMeta } from '../spool/store.js';
import type { Surface } from '../surfaces/surface.js';
import { surfaceOf } from '../surfaces/surfaces.js';
import { requestedAfterId } from './chat-completions.js';
import { handleLongPollRead, isLongPollRead } from './long-poll-read.js';
import { readyToReplay, serveStream } from './serve-stream.js';

const STREAM_ID_PATTERN = /^str_[A-Za-z0-9_-]{16,64}$/;

/** The stream of an id, or the 404/410 its id answers. */
export async function findStream(context: GatewayContext, streamId: string): Promise<StreamMeta> {
  if (!STREAM_ID_PATTERN.test(streamId))
    throw GatewayError.of('stream_not_found', `No stream with id ${streamId}.`);
  const meta = await context.store.getMeta(streamId);
  if (meta === undefined) throw GatewayError.of('stream_not_found', `No stream with id ${streamId}.`);
  if (meta === 'expired') {
    throw GatewayError.of(
      'stream_expired',
      `Stream ${streamId} has expired (spool.retentionMs, or dropped for room: spool.maxMemoryBytes); start a new request.`,
    );
  }
  return meta;
}

/**
 * `GET /v1/streams/{id}`: replay after `Last-Event-ID` (header or `?last_event_id=`), then tail; with
 * `?after=n&wait=s`, a long-poll read answered in JSON instead (`handleLongPollRead`); 204
 * when the stream has ended and the client already has its last event. Resolves once serving has
 * started; every answer carries `requestId` as `x-request-id`.
 * The stream id is the capability, so native EventSource (which cannot send headers) works; a
 * caller that does authenticate as another key is refused. Once the stream is found, its errors are
 * answered in the shape of the surface it was started on (`answerErrorsAs`).
 */
export async function handleGetStream(
  context: GatewayContext,
  caller: Caller | undefined,
  request: IncomingMessage,
  response: ServerResponse,
  streamId: string,
  requestId: string,
  query: URLSearchParams,
  answerErrorsAs: (surface: Surface) => void,
): Promise<void> {
  const longPoll = isLongPollRead(query);
  // Checked before the stream is looked up; its surface then says which spool id it names.
  if (!longPoll) requestedAfterId(request, query.get(LAST_EVENT_ID_QUERY));
  const meta = await findStream(context, streamId);
  const surface = surfaceOf(meta.surface);
  answerErrorsAs(surface);
  if (caller && caller.id !== meta.ownerId) {
    throw GatewayError.of('stream_forbidden', 'This stream belongs to another API key.');
  }
  if (longPoll) return handleLongPollRead(context, request, response, meta, requestId, query);
  const afterId = requestedAfterId(request, query.get(LAST_EVENT_ID_QUERY), surface);
  const ready = await readyToReplay(context, meta, afterId, response, requestId);
  context.metrics.resumes.inc({ via: 'get' });
  if (ready)
    serveStream(context, request, response, streamId, afterId, requestId, {}, undefined, surface.events);
}

/**
 * `DELETE /v1/streams/{id}`: a user's Stop; generation ends upstream and readers get a final event.
 * Errors of a found stream are answered in its surface's shape, as `handleGetStream`'s are.
 */
export async function handleDeleteStream(
  context: GatewayContext,
  caller: Caller,
  response: ServerResponse,
  streamId: string,
  answerErrorsAs: (surface: Surface) => void,
): Promise<void> {
  const meta = await findStream(context, streamId);
  answerErrorsAs(surfaceOf(meta.surface));
  if (caller.id !== meta.ownerId)
    throw GatewayError.of('stream_forbidden', 'This stream belongs to another API key.');
  const running = meta.state === 'pending' || meta.state === 'streaming';
  if (running) await context.store.requestCancel(streamId);
  sendJson(response, 200, {
    id: streamId,
    object: 'stream.deleted',
    deleted: running,
    state: running ? 'cancelled' : meta.state,
  });
}

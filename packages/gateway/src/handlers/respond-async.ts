import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  LONG_POLL_AFTER_QUERY,
  LONG_POLL_WAIT_QUERY,
  PREFER_HEADER,
  prefersRespondAsync,
  REQUEST_ID_HEADER,
  RESPOND_ASYNC,
  STREAM_ID_HEADER,
  type StreamAccepted,
} from '@spool/protocol';
import { sendJson } from '../http/respond.js';

/** Whether a POST that starts (or attaches to) a stream asks for its id rather than its events. */
export function wantsRespondAsync(request: IncomingMessage): boolean {
  return prefersRespondAsync(request.headers[PREFER_HEADER]);
}

/**
 * Answers a stream-starting POST `202 Accepted` at once with the stream id (JSON body and
 * `X-Stream-Id`): the client reads it by long-poll, which buffering proxies pass intact. Any
 * surface's POST handler calls it in place of serving the stream, once the stream is started or
 * attached to (the same POST again with its `Idempotency-Key` answers the same id: how a client
 * whose proxy hid the first answer's headers finds its stream).
 */
export function answerAccepted(
  response: ServerResponse,
  streamId: string,
  requestId: string,
  extraHeaders: Readonly<Record<string, string>> = {},
): void {
  const path = `/v1/streams/${streamId}`;
  const body: StreamAccepted = {
    object: 'stream',
    id: streamId,
    poll_url: `${path}?${LONG_POLL_AFTER_QUERY}=0&${LONG_POLL_WAIT_QUERY}=20`,
  };
  sendJson(response, 202, body, {
    ...extraHeaders,
    'cache-control': 'no-store',
    'preference-applied': RESPOND_ASYNC,
    location: path,
    [STREAM_ID_HEADER]: streamId,
    [REQUEST_ID_HEADER]: requestId,
  });
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { REQUEST_ID_HEADER } from '@spool/protocol';
import type { Caller } from '../../auth.js';
import type { GatewayContext } from '../../context.js';
import { GatewayError } from '../../errors.js';
import {
  GenerationAccounting,
  readIdempotency,
  requestedAfterId,
  serveStarted,
  withHeaders,
} from '../../handlers/chat-completions.js';
import { routeModel } from '../../handlers/route-model.js';
import { readyToReplay, serveStream } from '../../handlers/serve-stream.js';
import { bodyBounds, readBody } from '../../http/read-body.js';
import { sendJson } from '../../http/respond.js';
import { newStreamId } from '../../ids.js';
import { speaksNatively } from '../../providers/provider.js';
import { RequestAccount } from '../../relay/request-account.js';
import { type ResponseBase, translateChatStream } from '../../translate/chat-to-responses-stream.js';
import { toChatRequest } from '../../translate/responses-to-chat-request.js';
import {
  currentResponse,
  findResponse,
  isEnded,
  previousConversation,
  type StoredResponse,
} from './conversation.js';
import { isMeaningfulResponsesEvent, nativeResponsesEvents } from './native-events.js';
import { responseIdOf } from './response-ids.js';
import { foldResponse, parseSpooledEvents } from './response-object.js';
import { RESPONSES_EVENTS } from './responses-events.js';
import { inputItems, parseResponsesRequest, type ResponsesRequest } from './responses-request.js';
import { RESPONSES_SURFACE } from './responses-surface.js';
import { readSpooled } from './spooled-events.js';

/** Fields Spool handles itself rather than its upstream (it keeps conversations and runs background work). */
const SPOOL_FIELDS = ['previous_response_id', 'background', 'stream', 'stream_options'];

/** The Response object's fields besides status and output, as OpenAI lists them. */
function responseBase(body: ResponsesRequest, responseId: string, createdAt: number): ResponseBase {
  return {
    id: responseId,
    object: 'response',
    created_at: Math.floor(createdAt / 1000),
    background: body.background === true,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: body.metadata ?? {},
    model: body.model,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: body.reasoning ?? { effort: null, summary: null },
    store: body.store !== false,
    temperature: body.temperature ?? null,
    text: body.text ?? { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? null,
    truncation: body.truncation ?? 'disabled',
    usage: null,
    ...(body.user !== undefined ? { user: body.user } : {}),
  };
}

/**
 * `POST /v1/responses`: every response runs through the spool (streamed, background or not), so
 * it can be resumed, fetched, cancelled and continued from any instance. Streamed: served as
 * Responses events; `background`: answered at once; otherwise answered with the final object.
 */
export async function handleCreateResponse(
  context: GatewayContext,
  caller: Caller,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
): Promise<void> {
  const raw = await readBody(request, bodyBounds(context, caller));
  const body = parseResponsesRequest(raw, context.config.server.jsonMaxDepth);
  const route = routeModel(context, caller, body.model);
  const items = [
    ...(body.previous_response_id
      ? await previousConversation(context, caller, body.previous_response_id)
      : []),
    ...inputItems(body.input),
  ];
  // A request any target may translate must be translatable (400 naming what is not); one that
  // only native targets serve passes through as it is.
  const native = route.targets.every((target) => speaksNatively(target.provider, 'responses'));
  const chatBody = {
    ...toChatRequest(body, items, native),
    stream: true,
    stream_options: { include_usage: true },
  };
  const nativeBody: Record<string, unknown> = { ...body, input: items };
  for (const field of SPOOL_FIELDS) delete nativeBody[field];

  const { idempotencyKey, bodyHash } = readIdempotency(request, raw);
  const streamId = newStreamId();
  const responseId = responseIdOf(streamId);
  const createdAt = Date.now();
  const base = responseBase(body, responseId, createdAt);
  const stored: StoredResponse = { input: items, store: body.store !== false, base };
  const accounting = new GenerationAccounting(context, body.model, streamId);
  const providerContext = { requestId, headers: request.headers };
  const started = await context.relay.start({
    meta: {
      id: streamId,
      ownerId: caller.id,
      idempotencyKey,
      bodyHash,
      model: body.model,
      createdAt,
      state: 'pending',
      surface: 'responses',
      surfaceData: JSON.stringify(stored),
    },
    events: RESPONSES_EVENTS,
    background: body.background === true,
    // Background work is answered at once; its upstream's answer (a refusal too) is spooled.
    detached: body.background === true,
    // A streamed answer commits its first bytes in time (a non-streamed one waits for the end anyway).
    commitWithinMs: body.stream === true ? context.config.server.firstBytesWithinMs : undefined,
    observer: accounting,
    admit: async () => {
      accounting.account = await RequestAccount.admit(context, caller, chatBody, requestId);
    },
    open: async (signal) => {
      const account = accounting.account as RequestAccount;
      try {
        const opened = await context.chain.openSurface(
          route.targets,
          'responses',
          { ...providerContext, signal },
          {
            body: nativeBody,
            meaningful: isMeaningfulResponsesEvent,
            chatBody,
            translate: (events) => translateChatStream(events, base),
          },
        );
        accounting.provider = opened.provider.name;
        return opened.native
          ? nativeResponsesEvents(opened.events, responseId, opened.provider.name)
          : opened.events;
      } catch (error) {
        account.settle({ outcome: 'failed', streamId });
        throw withHeaders(error, account.headers);
      }
    },
  });
  let meta = started.meta;
  const attached = started.kind === 'attached';
  if (attached && meta.bodyHash !== bodyHash)
    throw GatewayError.of(
      'idempotency_key_reused',
      'This Idempotency-Key was already used with a different request body. Use a new key for a new request.',
      { param: 'Idempotency-Key' },
    );
  const headers = attached ? {} : { ...(accounting.account?.headers ?? {}) };
  if (body.stream === true) {
    const afterId = requestedAfterId(request, undefined, RESPONSES_SURFACE);
    if (attached) {
      context.metrics.resumes.inc({ via: 'post' });
      const ready = await readyToReplay(context, meta, afterId, response, requestId);
      if (!ready) return;
      meta = ready;
    }
    // As for chat: a wrapper (fault injection's) applies to the request that started the stream only.
    const wrap = attached ? undefined : context.wrapStartedStream?.(request);
    // Its events, or under `Prefer: respond-async` a 202 with the stream id, read by long-poll.
    serveStarted(
      context,
      request,
      response,
      requestId,
      { streamId: meta.id, afterId, headers, wrap },
      RESPONSES_EVENTS,
    );
    return;
  }
  const answerHeaders = { ...headers, [REQUEST_ID_HEADER]: requestId };
  const attachedStored =
    attached && meta.surfaceData ? (JSON.parse(meta.surfaceData) as StoredResponse) : stored;
  if (body.background === true) {
    // Answered at once, as OpenAI does: the work goes on whether or not anyone is connected.
    const now = attached
      ? await currentResponse(context, { meta, stored: attachedStored })
      : { ...stored.base, status: 'queued', output: [] };
    sendJson(response, 200, now, answerHeaders);
    return;
  }
  const text = await readSpooled(context.store, meta.id, { untilEnd: true });
  const latest = await context.store.getMeta(meta.id);
  const final = foldResponse(
    parseSpooledEvents(text),
    latest === undefined || latest === 'expired' ? { state: 'done' } : latest,
    attachedStored.base,
  );
  if (final.status === 'failed') {
    const error = (final.error ?? {}) as { message?: string };
    throw GatewayError.of('upstream_error', error.message || 'The response failed.');
  }
  sendJson(response, 200, final, answerHeaders);
}

/**
 * `GET /v1/responses/{id}`: the Response object (`in_progress` with the output so far while it
 * runs); with `stream=true`, its events after `starting_after` (or `Last-Event-ID`), then the live
 * tail, exactly as `GET /v1/streams/{id}` serves them.
 */
export async function handleGetResponse(
  context: GatewayContext,
  caller: Caller | undefined,
  request: IncomingMessage,
  response: ServerResponse,
  responseId: string,
  requestId: string,
  query: URLSearchParams,
): Promise<void> {
  const stream = query.get('stream') === 'true';
  // Checked before the response is looked up, as on GET /v1/streams/{id}.
  const afterId = stream ? requestedAfterId(request, query.get('starting_after'), RESPONSES_SURFACE) : 0;
  const found = await findResponse(context, caller, responseId);
  if (!stream) {
    sendJson(response, 200, await currentResponse(context, found), { [REQUEST_ID_HEADER]: requestId });
    return;
  }
  const ready = await readyToReplay(context, found.meta, afterId, response, requestId);
  context.metrics.resumes.inc({ via: 'get' });
  if (ready)
    serveStream(context, request, response, ready.id, afterId, requestId, {}, undefined, RESPONSES_EVENTS);
}

/** `POST /v1/responses/{id}/cancel`: stops the generation (any response, not only background ones); idempotent. */
export async function handleCancelResponse(
  context: GatewayContext,
  caller: Caller,
  response: ServerResponse,
  responseId: string,
  requestId: string,
): Promise<void> {
  const found = await findResponse(context, caller, responseId);
  if (isEnded(found.meta) || found.meta.failure) {
    sendJson(response, 200, await currentResponse(context, found), { [REQUEST_ID_HEADER]: requestId });
    return;
  }
  await context.store.requestCancel(found.meta.id);
  const now = await currentResponse(context, { ...found, meta: { ...found.meta, state: 'cancelled' } });
  sendJson(response, 200, { ...now, status: 'cancelled' }, { [REQUEST_ID_HEADER]: requestId });
}

/** `GET /v1/responses/{id}/input_items`: the items the response answered (its whole conversation). */
export async function handleInputItems(
  context: GatewayContext,
  caller: Caller,
  response: ServerResponse,
  responseId: string,
  requestId: string,
  query: URLSearchParams,
): Promise<void> {
  const { stored } = await findResponse(context, caller, responseId);
  const limitText = query.get('limit') ?? '20';
  const limit = Number(limitText);
  if (!/^\d{1,3}$/.test(limitText) || limit < 1 || limit > 100)
    throw GatewayError.of('invalid_request', "'limit' must be an integer from 1 to 100.", { param: 'limit' });
  const order = query.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc')
    throw GatewayError.of('invalid_request', "'order' must be 'asc' or 'desc'.", { param: 'order' });
  const suffix = responseId.slice('resp_'.length);
  let items = stored.input.map((item, index) => ({ id: `in_${suffix}_${index}`, ...item }));
  if (order === 'desc') items = items.reverse();
  const after = query.get('after');
  if (after) {
    const at = items.findIndex((item) => item.id === after);
    items = at === -1 ? [] : items.slice(at + 1);
  }
  const data = items.slice(0, limit);
  sendJson(
    response,
    200,
    {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
      has_more: items.length > limit,
    },
    { [REQUEST_ID_HEADER]: requestId },
  );
}

/**
 * `DELETE /v1/responses/{id}`: forgets a response that has ended (its events, its stored
 * conversation); its id is unknown afterwards. A running one must be cancelled first (409).
 */
export async function handleDeleteResponse(
  context: GatewayContext,
  caller: Caller,
  response: ServerResponse,
  responseId: string,
  requestId: string,
): Promise<void> {
  const { meta } = await findResponse(context, caller, responseId);
  if (!isEnded(meta))
    throw GatewayError.of(
      'stream_in_progress',
      `Response ${responseId} is still in progress; cancel it first (POST /v1/responses/${responseId}/cancel).`,
    );
  await context.store.forget(meta.id);
  sendJson(
    response,
    200,
    { id: responseId, object: 'response', deleted: true },
    { [REQUEST_ID_HEADER]: requestId },
  );
}

import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ChatCompletionRequest,
  IDEMPOTENCY_KEY_HEADER,
  LAST_EVENT_ID_HEADER,
  parseLastEventId,
  REQUEST_ID_HEADER,
  type Usage,
} from '@spool/protocol';
import type { Caller } from '../auth.js';
import { completionCacheKey } from '../cache/completion-cache.js';
import type { GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import { bodyBounds, readBody } from '../http/read-body.js';
import { sendJson } from '../http/respond.js';
import { parseChatRequest } from '../http/validate-chat-request.js';
import { newStreamId } from '../ids.js';
import type { UpstreamEvent } from '../providers/provider.js';
import type { GenerationObserver } from '../relay/generation-observer.js';
import { RequestAccount } from '../relay/request-account.js';
import type { ResolvedRoute } from '../routing.js';
import { CHAT_SURFACE } from '../surfaces/chat/chat-surface.js';
import type { EventPolicy, Surface } from '../surfaces/surface.js';
import { answerAccounted, withHeaders } from './accounted-answer.js';
import type { DownstreamWrapper } from './downstream.js';
import { answerAccepted, wantsRespondAsync } from './respond-async.js';
import { routeModel } from './route-model.js';
import { readyToReplay, serveStream } from './serve-stream.js';

// The Responses handler (another branch is changing it) still imports withHeaders from here.
export { withHeaders };

const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * Reads and checks the resume point a request asks for (`Last-Event-ID`, else `queryValue`), as
 * the spool id after which to replay: the stream's surface maps the event id its clients see.
 */
export function requestedAfterId(
  request: IncomingMessage,
  queryValue?: string | null,
  surface: Surface = CHAT_SURFACE,
): number {
  const header = request.headers[LAST_EVENT_ID_HEADER];
  const raw = typeof header === 'string' ? header : (queryValue ?? undefined);
  const afterId = parseLastEventId(raw);
  if (afterId === null) {
    throw GatewayError.of(
      'invalid_last_event_id',
      `Last-Event-ID must be a non-negative integer, got "${raw}".`,
      {
        param: 'Last-Event-ID',
      },
    );
  }
  return surface.spoolIdAfter(raw === undefined || raw.trim() === '' ? undefined : afterId);
}

/**
 * A request's `Idempotency-Key` (checked), and the hash of its body to compare a retry by: only a
 * request that can be retried onto its stream (same key) is ever compared by its body.
 * @throws GatewayError 400 for a key that is not 1-255 visible ASCII characters.
 */
export function readIdempotency(
  request: IncomingMessage,
  raw: Buffer,
): { idempotencyKey: string | undefined; bodyHash: string | undefined } {
  const header = request.headers[IDEMPOTENCY_KEY_HEADER];
  const idempotencyKey = typeof header === 'string' ? header : undefined;
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
    throw GatewayError.of('invalid_request', 'Idempotency-Key must be 1-255 visible ASCII characters.', {
      param: 'Idempotency-Key',
    });
  }
  const bodyHash = idempotencyKey === undefined ? undefined : createHash('sha256').update(raw).digest('hex');
  return { idempotencyKey, bodyHash };
}

/**
 * What a started generation reports into: its time to first token and duration (measured from the
 * request's arrival), its usage, and the request's account, settled when it ends. One object rather
 * than closures over `startStreamed`: their shared context (the request, its body, the route)
 * would stay alive for as long as the stream is open (bench/memory).
 */
export class GenerationAccounting implements GenerationObserver {
  /** Admitted once the generation starts opening its upstream. */
  account: RequestAccount | undefined;
  /** The provider that accepted the stream. */
  provider: string | undefined;
  readonly #context: GatewayContext;
  readonly #model: string;
  readonly #streamId: string;
  readonly #arrivedAt = performance.now();
  #usage: Usage | undefined;
  #ttftMs: number | null = null;

  constructor(context: GatewayContext, model: string, streamId: string) {
    this.#context = context;
    this.#model = model;
    this.#streamId = streamId;
  }

  onFirstToken(): void {
    this.#ttftMs = Math.round(this.account?.elapsedMs() ?? 0);
    this.#context.metrics.timeToFirstToken.observe({ model: this.#model }, this.#seconds());
  }

  onUsage(usage: Usage): void {
    this.#usage = usage;
  }

  onEnd(outcome: 'done' | 'error' | 'cancelled', info: { contentDeltas: number }): void {
    this.#context.metrics.generationDuration.observe({ model: this.#model, outcome }, this.#seconds());
    this.account?.settle({
      outcome: outcome === 'done' ? 'completed' : outcome === 'cancelled' ? 'cancelled' : 'failed',
      usage: this.#usage,
      contentDeltas: info.contentDeltas,
      provider: this.provider,
      streamId: this.#streamId,
      ttftMs: this.#ttftMs,
    });
  }

  #seconds(): number {
    return (performance.now() - this.#arrivedAt) / 1000;
  }
}

/**
 * `POST /v1/chat/completions`: streamed requests go through the spool, others are relayed as they
 * are; a streamed one with `Prefer: respond-async` is answered 202 with its stream id instead. Resolves once the answer is sent or serving the stream has started; every answer it sends
 * carries `requestId` as `x-request-id` (errors are thrown, for the caller to answer).
 */
export async function handleChatCompletions(
  context: GatewayContext,
  caller: Caller,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
): Promise<void> {
  // Everything up to the first byte happens in `answerOrStart`, so what only that needs (the raw
  // body, the parsed request) is not kept alive for as long as the client reads the stream.
  const started = await answerOrStart(context, caller, request, response, requestId);
  if (started) serveStarted(context, request, response, requestId, started);
}

/**
 * Serves a started (or attached) stream to the request that started it: its events, or — asked
 * with `Prefer: respond-async` — a 202 with its id, for the client to read by long-poll.
 */
export function serveStarted(
  context: GatewayContext,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  started: StartedStream,
  events?: EventPolicy,
): void {
  if (wantsRespondAsync(request)) {
    answerAccepted(response, started.streamId, requestId, started.headers);
    return;
  }
  serveStream(
    context,
    request,
    response,
    started.streamId,
    started.afterId,
    requestId,
    started.headers,
    started.wrap,
    events,
  );
}

/** Reads, checks and routes the request; answers a non-streamed one, or starts the stream to serve. */
async function answerOrStart(
  context: GatewayContext,
  caller: Caller,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
): Promise<StartedStream | undefined> {
  const raw = await readBody(request, bodyBounds(context, caller));
  const body = parseChatRequest(raw, context.config.server.jsonMaxDepth);
  const route = routeModel(context, caller, body.model);
  const call: ChatCall = { context, caller, request, response, requestId, raw, body, route };
  if (body.stream === true) return startStreamed(call);
  await completeOnce(call);
  return undefined;
}

/** A stream ready to be served to this request's client. */
export interface StartedStream {
  streamId: string;
  afterId: number;
  headers: Record<string, string>;
  /** What the client's connection is served through (a fault the request asked for), if anything. */
  wrap: DownstreamWrapper | undefined;
}

/** One validated, routed request of a surface (its parsed `body`) and where its answer goes. */
export interface SurfaceCall<TBody> {
  context: GatewayContext;
  caller: Caller;
  request: IncomingMessage;
  response: ServerResponse;
  requestId: string;
  /** The body's bytes, for the idempotency and cache hashes. */
  raw: Buffer;
  body: TBody;
  route: ResolvedRoute;
}

type ChatCall = SurfaceCall<ChatCompletionRequest>;

/** A non-streamed completion: cached when enabled, accounted, relayed as the upstream answered. */
async function completeOnce({
  context,
  caller,
  request,
  response,
  requestId,
  raw,
  body,
  route,
}: ChatCall): Promise<void> {
  const providerContext = { requestId, headers: request.headers };
  const cacheKey = context.cache ? completionCacheKey(caller.id, raw) : undefined;
  if (context.cache && cacheKey) {
    const cached = await context.cache.get(cacheKey);
    if (cached !== undefined) {
      sendJson(response, 200, cached, { [REQUEST_ID_HEADER]: requestId, 'x-spool-cache': 'hit' });
      return;
    }
  }
  const account = await RequestAccount.admit(context, caller, body, requestId);
  await answerAccounted(account, response, async (signal) => {
    const result = await context.chain.complete(route.targets, body, { ...providerContext, signal });
    account.settle({
      outcome: 'completed',
      usage: (result.body as { usage?: Usage }).usage,
      provider: result.provider.name,
    });
    if (context.cache && cacheKey) await context.cache.set(cacheKey, result.body);
    sendJson(response, 200, result.body, {
      ...account.headers,
      [REQUEST_ID_HEADER]: requestId,
      ...(context.cache ? { 'x-spool-cache': 'miss' } : {}),
    });
  });
}

/** Starts (or attaches to) the spooled stream of a streamed chat request. */
function startStreamed(call: ChatCall): Promise<StartedStream | undefined> {
  const { context, request, requestId, body, route } = call;
  return startSpooledStream(call, {
    model: body.model,
    admitBody: body,
    // Usage is always asked of the upstream (token accounting needs it) and stripped again
    // when the client did not ask for it.
    stripUsage: body.stream_options?.include_usage !== true,
    open: (signal) => {
      const upstreamBody = { ...body, stream_options: { ...body.stream_options, include_usage: true } };
      return context.chain.openStream(route.targets, upstreamBody, {
        requestId,
        headers: request.headers,
        signal,
      });
    },
  });
}

/** What a surface's handler gives {@link startSpooledStream} besides its call. */
export interface SpooledStreamInput {
  /** The model the client asked for. */
  model: string;
  /** The request in chat form, for the rate limits' estimate. */
  admitBody: ChatCompletionRequest;
  /** The surface the stream belongs to (recorded on it, and its resume parameter). @default chat */
  surface?: Surface;
  /** The relay's rules for the stream's events. @default the surface's */
  events?: EventPolicy;
  /** Drop usage-only events the client did not ask for. @default false */
  stripUsage?: boolean;
  /** Opens the upstream once the request is admitted. */
  open(signal: AbortSignal): Promise<{ events: AsyncIterable<UpstreamEvent>; provider: { name: string } }>;
}

/**
 * Starts (or attaches to, by Idempotency-Key) the spooled stream of a streamed request, for every
 * surface: the key checked, the body hashed, the request admitted against its limits only when a
 * new generation starts, the generation accounted. The caller then serves it. Resolves `undefined`
 * when the response was already answered (an attach with nothing left to send).
 */
export async function startSpooledStream(
  call: SurfaceCall<unknown>,
  input: SpooledStreamInput,
): Promise<StartedStream | undefined> {
  // Two arguments rather than the call spread into one object: that spread (with the fields added
  // after it) took ~5 µs per request on Node 20, on the first token's path.
  const { context, caller, request, response, requestId, raw } = call;
  const { model, admitBody, surface } = input;
  const afterId = requestedAfterId(request, undefined, surface);
  const { idempotencyKey, bodyHash } = readIdempotency(request, raw);
  const streamId = newStreamId();
  // Admission happens only when a new generation starts: a retry that attaches to one under way
  // (same Idempotency-Key) is a resume, not a new request, and is never rate limited.
  const accounting = new GenerationAccounting(context, model, streamId);
  const started = await context.relay.start({
    meta: {
      id: streamId,
      ownerId: caller.id,
      idempotencyKey,
      bodyHash,
      model,
      createdAt: Date.now(),
      state: 'pending',
      ...(surface ? { surface: surface.name } : {}),
    },
    stripUsage: input.stripUsage ?? false,
    events: input.events ?? surface?.events,
    observer: accounting,
    // Admitted before the upstream opens: a refusal there is always an HTTP status, and the time
    // the upstream may take before the first bytes leave anyway counts from it.
    admit: async () => {
      accounting.account = await RequestAccount.admit(context, caller, admitBody, requestId);
    },
    commitWithinMs: context.config.server.firstBytesWithinMs,
    open: async (signal) => {
      const account = accounting.account as RequestAccount;
      try {
        const opened = await input.open(signal);
        accounting.provider = opened.provider.name;
        return opened.events;
      } catch (error) {
        account.settle({ outcome: 'failed', streamId });
        throw withHeaders(error, account.headers);
      }
    },
  });
  let meta = started.meta;
  if (started.kind === 'attached') {
    if (meta.bodyHash !== bodyHash) {
      throw GatewayError.of(
        'idempotency_key_reused',
        'This Idempotency-Key was already used with a different request body. Use a new key for a new request.',
        { param: 'Idempotency-Key' },
      );
    }
    context.metrics.resumes.inc({ via: 'post' });
    const ready = await readyToReplay(context, meta, afterId, response, requestId);
    if (!ready) return undefined;
    meta = ready;
  }
  const headers = started.kind === 'started' ? (accounting.account?.headers ?? {}) : {};
  // A wrapper (fault injection's) applies to the request that started the stream only: a retry
  // that attaches would otherwise be cut again, forever.
  const wrap = started.kind === 'started' ? context.wrapStartedStream?.(request) : undefined;
  // A new generation is a new stream whose ids start at 1: a `Last-Event-ID` named another one (a
  // retry whose stream was lost), so it is served whole, and its new `X-Stream-Id` says so.
  return {
    streamId: meta.id,
    afterId: started.kind === 'started' ? 0 : afterId,
    headers: { ...headers },
    wrap,
  };
}

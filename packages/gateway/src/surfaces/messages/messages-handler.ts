import type { IncomingMessage, ServerResponse } from 'node:http';
import { MessagesAssembler } from '@spool/client';
import { type ChatCompletionRequest, REQUEST_ID_HEADER, type Usage } from '@spool/protocol';
import type { Caller } from '../../auth.js';
import type { GatewayContext } from '../../context.js';
import { UpstreamError } from '../../errors.js';
import { answerAccounted } from '../../handlers/accounted-answer.js';
import { type SurfaceCall, serveStarted, startSpooledStream } from '../../handlers/chat-completions.js';
import { routeModel } from '../../handlers/route-model.js';
import { bodyBounds, readBody } from '../../http/read-body.js';
import { sendJson } from '../../http/respond.js';
import { type ProviderCallContext, speaksNatively, type UpstreamEvent } from '../../providers/provider.js';
import { upstreamEventError } from '../../providers/upstream-event-error.js';
import { RequestAccount } from '../../relay/request-account.js';
import type { ResolvedRoute } from '../../routing.js';
import { ChatToMessagesEvents } from '../../translate/chat-to-messages-stream.js';
import { messagesToChatRequest } from '../../translate/messages-to-chat.js';
import type { UpstreamTarget } from '../../upstream/upstream-chain.js';
import { estimateInputTokens } from './count-tokens.js';
import { isMeaningfulMessagesEvent, MessagesEvents } from './messages-events.js';
import { countTokensRequestSchema, type MessagesRequest, parseMessagesRequest } from './messages-schema.js';
import { MESSAGES_SURFACE } from './messages-surface.js';
import { nativeMessagesEvents } from './native-events.js';

type MessagesCall = SurfaceCall<MessagesRequest>;

/** Reads, checks and routes a Messages (or count_tokens) body. */
async function readCall(
  context: GatewayContext,
  caller: Caller,
  request: IncomingMessage,
  schema?: typeof countTokensRequestSchema,
): Promise<{ raw: Buffer; body: MessagesRequest; route: ResolvedRoute }> {
  const raw = await readBody(request, bodyBounds(context, caller));
  const body = parseMessagesRequest(raw, context.config.server.jsonMaxDepth, schema);
  const route = routeModel(context, caller, body.model);
  return { raw, body, route };
}

/**
 * `POST /v1/messages`: Anthropic's Messages API on every model. Streamed requests go through the
 * spool (SSE `id:` 1, 2, … beside Anthropic's `event:` lines, `X-Stream-Id`, resumable like a chat
 * stream); a non-streamed answer is built from the same upstream stream.
 */
export async function handleMessages(
  context: GatewayContext,
  caller: Caller,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
): Promise<void> {
  const { raw, body, route } = await readCall(context, caller, request);
  const call: MessagesCall = { context, caller, request, response, requestId, raw, body, route };
  if (body.stream !== true) return completeOnce(call);
  const started = await startStreamed(call);
  if (started) serveStarted(context, request, response, requestId, started, MESSAGES_SURFACE.events);
}

/** A provider that counts Messages tokens exactly (Anthropic's count_tokens). */
interface TokenCounter {
  countMessageTokens(
    body: Readonly<Record<string, unknown>>,
    context: ProviderCallContext,
  ): Promise<{ input_tokens: number }>;
}

function isTokenCounter(provider: object): provider is TokenCounter {
  return typeof (provider as Partial<TokenCounter>).countMessageTokens === 'function';
}

/**
 * `POST /v1/messages/count_tokens`: exact from the model's first upstream when it counts (an
 * Anthropic upstream; `x-spool-token-count: exact`), the gateway's estimate otherwise
 * (`x-spool-token-count: estimate`). The request is checked and routed as a Messages request is.
 */
export async function handleCountTokens(
  context: GatewayContext,
  caller: Caller,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
): Promise<void> {
  const { body, route } = await readCall(context, caller, request, countTokensRequestSchema);
  const headers = { [REQUEST_ID_HEADER]: requestId };
  const target = route.targets[0];
  if (target && isTokenCounter(target.provider)) {
    const counted = await target.provider.countMessageTokens(
      { ...body, model: target.upstreamModel },
      { requestId, headers: request.headers, signal: AbortSignal.timeout(30_000) },
    );
    sendJson(response, 200, counted, { ...headers, 'x-spool-token-count': 'exact' });
    return;
  }
  sendJson(
    response,
    200,
    { input_tokens: estimateInputTokens(body) },
    { ...headers, 'x-spool-token-count': 'estimate' },
  );
}

/** Opens the upstream stream: passed through (checked) where the target speaks Messages, else translated. */
async function openMessages(
  context: GatewayContext,
  targets: readonly UpstreamTarget[],
  body: MessagesRequest,
  chatBody: ChatCompletionRequest,
  providerContext: ProviderCallContext,
) {
  const opened = await context.chain.openSurface(targets, 'messages', providerContext, {
    body: { ...body, stream: true },
    meaningful: isMeaningfulMessagesEvent,
    chatBody: { ...chatBody, stream: true, stream_options: { include_usage: true } },
    translate: (events: AsyncIterable<UpstreamEvent>) =>
      new ChatToMessagesEvents(events, { model: body.model }),
  });
  return opened.native
    ? { ...opened, events: nativeMessagesEvents(opened.events, opened.provider.name) }
    : opened;
}

/** How a request reaches its upstreams: its chat form, and the targets that can honour it. */
interface Plan {
  /** The request as a chat completion: what translated targets get, and what the rate limits estimate. */
  chatBody: ChatCompletionRequest;
  targets: readonly UpstreamTarget[];
}

/**
 * Plans a request: translated to chat for every target, unless it asks for what chat cannot
 * express; then only the targets that speak Messages natively take it, and without one it is
 * refused (400, naming the `param`).
 */
function planOf(body: MessagesRequest, targets: readonly UpstreamTarget[]): Plan {
  try {
    return { chatBody: messagesToChatRequest(body), targets };
  } catch (error) {
    const native = targets.filter((target) => speaksNatively(target.provider, 'messages'));
    if (native.length === 0) throw error;
    // The estimate then reads the messages as they are (their text parts count the same).
    const chatBody = { model: body.model, max_tokens: body.max_tokens, messages: body.messages as never };
    return { chatBody, targets: native };
  }
}

/** A non-streamed answer: the upstream stream, gathered into one message. */
async function completeOnce({ context, caller, request, response, requestId, body, route }: MessagesCall) {
  const { chatBody, targets } = planOf(body, route.targets);
  const account = await RequestAccount.admit(context, caller, chatBody, requestId);
  await answerAccounted(account, response, async (signal) => {
    const policy = new MessagesEvents();
    let usage: Usage | undefined;
    const opened = await openMessages(context, targets, body, chatBody, {
      requestId,
      headers: request.headers,
      signal,
    });
    const assembler = new MessagesAssembler();
    let ending: 'done' | 'error' | undefined;
    let finished = false;
    for await (const event of opened.events) {
      policy.takeUsage(event.data, event.event, (reported) => {
        usage = reported;
      });
      ending = policy.ending(event.data, event.event);
      if (ending === 'error') throw upstreamEventError(event.data, 'The upstream failed mid-answer.');
      finished ||= policy.isFinish(event.data, event.event);
      assembler.apply(event.data);
      if (ending === 'done') break;
    }
    if (ending === undefined && !finished) {
      throw UpstreamError.ofCode('upstream_error', 'The upstream ended the answer before it finished.');
    }
    const message = assembler.toMessage();
    if (message.content.some((block) => block.type === 'tool_use' && typeof block.input === 'string')) {
      throw UpstreamError.ofCode('upstream_error', "The upstream's tool input is not JSON.");
    }
    // The answer names the model the client asked for, whatever the upstream calls it.
    message.model = body.model;
    account.settle({ outcome: 'completed', usage, provider: opened.provider.name });
    sendJson(response, 200, message, { ...account.headers, [REQUEST_ID_HEADER]: requestId });
  });
}

/** Starts (or attaches to, by Idempotency-Key) the spooled stream of a streamed request. */
function startStreamed(call: MessagesCall) {
  const { context, request, requestId, body, route } = call;
  const { chatBody, targets } = planOf(body, route.targets);
  return startSpooledStream(call, {
    model: body.model,
    admitBody: chatBody,
    surface: MESSAGES_SURFACE,
    // Each generation adds up its own usage.
    events: new MessagesEvents(),
    open: (signal) =>
      openMessages(context, targets, body, chatBody, { requestId, headers: request.headers, signal }),
  });
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerToken, type Caller, isLoopback } from './auth.js';
import type { GatewayContext } from './context.js';
import { handleChatCompletions } from './handlers/chat-completions.js';
import { handleEmbeddings } from './handlers/embeddings.js';
import { handleListModels, handleReady } from './handlers/models.js';
import { handleRetrieveModel } from './handlers/retrieve-model.js';
import { handleDeleteStream, handleGetStream } from './handlers/streams.js';
import { handleUsage } from './handlers/usage.js';
import { decodePathSegment } from './http/request-target.js';
import { sendJson } from './http/respond.js';
import { CHAT_SURFACE } from './surfaces/chat/chat-surface.js';
import { handleCountTokens, handleMessages } from './surfaces/messages/messages-handler.js';
import { MESSAGES_SURFACE } from './surfaces/messages/messages-surface.js';
import {
  handleCancelResponse,
  handleCreateResponse,
  handleDeleteResponse,
  handleGetResponse,
  handleInputItems,
} from './surfaces/responses/responses-handler.js';
import { RESPONSES_SURFACE } from './surfaces/responses/responses-surface.js';
import type { Surface } from './surfaces/surface.js';

/** One request, matched to its route. */
interface RouteCall {
  context: GatewayContext;
  request: IncomingMessage;
  response: ServerResponse;
  requestId: string;
  query: URLSearchParams;
  /** The path's `{name}` placeholders, percent-decoded. */
  params: Readonly<Record<string, string>>;
  /**
   * Answers the request's errors from now on in `surface`'s shape, once the handler knows it (the
   * surface a stream was started on, for `/v1/streams/{id}`); the route's `surface` until then.
   */
  answerErrorsAs(surface: Surface): void;
}

/** A route of the gateway: the one place that says what exists, for dispatch, `Allow` and metrics. */
export interface Route {
  /** The path, `{name}` for a segment, `{name+}` for the rest of it; also the route's metrics label. */
  path: string;
  /** The methods it answers; any other gets 405 with `Allow`. */
  methods: readonly string[];
  /**
   * The methods whose handler puts `x-request-id` into its own `writeHead` (those that may serve
   * a stream): a header set beforehand makes node:http keep a second copy of every header for the
   * life of the response (bench/memory).
   */
  streamingMethods?: readonly string[];
  /**
   * The API the route belongs to (chat, responses, messages): its errors are sent in that
   * surface's shape. Routes without one answer OpenAI's.
   */
  surface?: Surface;
  /** Answered while the gateway drains (probes and metrics); everything else gets 503 then. */
  whileDraining?: boolean;
  handle(call: RouteCall): Promise<void> | void;
}

/** A stream's id is the capability to read it; a key, when sent, must be valid (and own the stream). */
function optionalCaller(context: GatewayContext, request: IncomingMessage): Caller | undefined {
  return bearerToken(request) !== undefined || context.auth.devMode
    ? context.auth.authenticate(request)
    : undefined;
}

/** Every route the gateway serves. The chat page's static files are served for other GET paths. */
export const ROUTES: readonly Route[] = [
  {
    path: '/health',
    methods: ['GET', 'HEAD'],
    whileDraining: true,
    handle: ({ response }) => sendJson(response, 200, { status: 'ok' }),
  },
  {
    path: '/ready',
    methods: ['GET', 'HEAD'],
    whileDraining: true,
    handle: ({ context, request, response }) => handleReady(context, request, response),
  },
  {
    path: '/metrics',
    methods: ['GET'],
    whileDraining: true,
    handle: async ({ context, request, response }) => {
      if (!isLoopback(request.socket.remoteAddress)) context.auth.authenticate(request);
      const text = await context.metrics.registry.metrics();
      response.writeHead(200, { 'content-type': context.metrics.registry.contentType });
      response.end(text);
    },
  },
  {
    path: '/v1/chat/completions',
    methods: ['POST'],
    streamingMethods: ['POST'],
    surface: CHAT_SURFACE,
    handle: ({ context, request, response, requestId }) =>
      handleChatCompletions(context, context.auth.authenticate(request), request, response, requestId),
  },
  {
    path: '/v1/messages',
    methods: ['POST'],
    streamingMethods: ['POST'],
    surface: MESSAGES_SURFACE,
    handle: ({ context, request, response, requestId }) =>
      handleMessages(context, context.auth.authenticate(request), request, response, requestId),
  },
  {
    path: '/v1/messages/count_tokens',
    methods: ['POST'],
    surface: MESSAGES_SURFACE,
    handle: ({ context, request, response, requestId }) =>
      handleCountTokens(context, context.auth.authenticate(request), request, response, requestId),
  },
  {
    path: '/v1/responses',
    methods: ['POST'],
    streamingMethods: ['POST'],
    surface: RESPONSES_SURFACE,
    handle: ({ context, request, response, requestId }) =>
      handleCreateResponse(context, context.auth.authenticate(request), request, response, requestId),
  },
  {
    path: '/v1/responses/{id}',
    methods: ['GET', 'DELETE'],
    streamingMethods: ['GET'],
    surface: RESPONSES_SURFACE,
    handle: ({ context, request, response, requestId, query, params }) =>
      request.method === 'DELETE'
        ? handleDeleteResponse(
            context,
            context.auth.authenticate(request),
            response,
            params.id as string,
            requestId,
          )
        : handleGetResponse(
            context,
            optionalCaller(context, request),
            request,
            response,
            params.id as string,
            requestId,
            query,
          ),
  },
  {
    path: '/v1/responses/{id}/cancel',
    methods: ['POST'],
    surface: RESPONSES_SURFACE,
    handle: ({ context, request, response, requestId, params }) =>
      handleCancelResponse(
        context,
        context.auth.authenticate(request),
        response,
        params.id as string,
        requestId,
      ),
  },
  {
    path: '/v1/responses/{id}/input_items',
    methods: ['GET'],
    surface: RESPONSES_SURFACE,
    handle: ({ context, request, response, requestId, query, params }) =>
      handleInputItems(
        context,
        context.auth.authenticate(request),
        response,
        params.id as string,
        requestId,
        query,
      ),
  },
  {
    path: '/v1/embeddings',
    methods: ['POST'],
    handle: ({ context, request, response, requestId }) =>
      handleEmbeddings(context, context.auth.authenticate(request), request, response, requestId),
  },
  {
    path: '/v1/usage',
    methods: ['GET'],
    handle: ({ context, request, response, query }) =>
      handleUsage(context, context.auth.authenticate(request), response, query),
  },
  {
    path: '/v1/models',
    methods: ['GET'],
    // Anthropic's clients send `anthropic-version` and read Anthropic's list shape.
    handle: ({ context, request, response }) =>
      handleListModels(
        context,
        context.auth.authenticate(request),
        response,
        request.headers['anthropic-version'] !== undefined ? 'anthropic' : 'openai',
      ),
  },
  {
    // A model id may hold a `/` (`meta-llama/Llama-3-8B` on vLLM), sent raw or as `%2F`.
    path: '/v1/models/{id+}',
    methods: ['GET'],
    handle: ({ context, request, response, params }) =>
      handleRetrieveModel(context, context.auth.authenticate(request), response, params.id as string),
  },
  {
    path: '/v1/streams/{id}',
    methods: ['GET', 'DELETE'],
    streamingMethods: ['GET'],
    handle: ({ context, request, response, requestId, query, params, answerErrorsAs }) => {
      const streamId = params.id as string;
      if (request.method === 'DELETE')
        return handleDeleteStream(
          context,
          context.auth.authenticate(request),
          response,
          streamId,
          answerErrorsAs,
        );
      return handleGetStream(
        context,
        optionalCaller(context, request),
        request,
        response,
        streamId,
        requestId,
        query,
        answerErrorsAs,
      );
    },
  },
];

function labelOf(route: Route): string {
  return route.path.replace(/\+\}/g, '}');
}

/** A route found for a path, with its placeholders. */
export interface RouteMatch {
  route: Route;
  /** The route's path as its metrics label and in messages (`/v1/models/{id}`). */
  label: string;
  params: Readonly<Record<string, string>>;
}

interface CompiledRoute {
  route: Route;
  label: string;
  pattern: RegExp;
  names: string[];
}

/** Finds routes by path: exact paths by lookup, paths with placeholders by pattern, in table order. */
export class RouteTable {
  readonly routes: readonly Route[];
  readonly #exact = new Map<string, RouteMatch>();
  readonly #patterns: CompiledRoute[] = [];

  constructor(routes: readonly Route[]) {
    this.routes = routes;
    for (const route of routes) {
      if (!route.path.includes('{')) {
        this.#exact.set(route.path, { route, label: route.path, params: {} });
        continue;
      }
      const names: string[] = [];
      const source = route.path
        .split('/')
        .map((segment) => {
          const placeholder = /^\{(\w+)(\+?)\}$/.exec(segment);
          if (!placeholder) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(placeholder[1] as string);
          return placeholder[2] ? '(.+)' : '([^/]+)';
        })
        .join('/');
      this.#patterns.push({ route, label: labelOf(route), pattern: new RegExp(`^${source}$`), names });
    }
  }

  /**
   * The route of a (percent-encoded) path, its placeholders decoded.
   * @throws GatewayError 400 when a placeholder is not valid percent-encoding.
   */
  match(path: string): RouteMatch | undefined {
    const exact = this.#exact.get(path);
    if (exact) return exact;
    for (const { route, label, pattern, names } of this.#patterns) {
      const found = pattern.exec(path);
      if (!found) continue;
      const params: Record<string, string> = {};
      names.forEach((name, index) => {
        params[name] = decodePathSegment(found[index + 1] as string, name);
      });
      return { route, label, params };
    }
    return undefined;
  }

  /** The API paths served, for a 404's message. */
  apiPaths(): string[] {
    return this.routes.map(labelOf).filter((path) => path.startsWith('/v1/'));
  }
}

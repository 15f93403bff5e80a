import type { ChatCompletionRequest, ModelInfo } from '@spool/protocol';
import { REQUEST_ID_HEADER } from '@spool/protocol';
import { Pool, errors as undiciErrors } from 'undici';
import { UpstreamError } from '../errors.js';
import type { EmbeddingsRequest } from '../http/validate-embeddings-request.js';
import type { ApiName } from '../surfaces/api-name.js';
import { normalizeChatEvents } from './normalize-chat-events.js';
import type { ChatProvider, CompletionResult, ProviderCallContext, UpstreamEvent } from './provider.js';
import { readJsonBody } from './read-json-body.js';
import { SseEventTooLargeError } from './sse-parser.js';
import { requestSse } from './sse-request.js';
import { notAnEventStream, upstreamHttpError } from './upstream-http-error.js';

/** Options of an OpenAI-compatible upstream (OpenAI, DeepSeek, Groq, Ollama, vLLM, llama.cpp …). */
export interface OpenAIProviderOptions {
  /** The provider's name in the configuration. */
  name: string;
  /** Base URL including the version prefix, e.g. `https://api.openai.com/v1`. */
  baseURL: string;
  /** Sent as `Authorization: Bearer …` when set. */
  apiKey?: string | undefined;
  /** Extra headers sent on every upstream request. */
  headers?: Record<string, string> | undefined;
  /** Client request headers copied upstream (lower-case names), e.g. `x-spool-fault` for a remote sim. @default [] */
  passHeaders?: readonly string[] | undefined;
  /** Pooled keep-alive connections to this upstream. @default 128 */
  connections?: number | undefined;
  /** Time allowed to connect. @default 10000 */
  connectTimeoutMs?: number | undefined;
  /** Time allowed until the upstream's response headers (first byte). @default 120000 */
  firstByteTimeoutMs?: number | undefined;
  /** Time allowed between two chunks of a streamed body. @default 120000 */
  idleTimeoutMs?: number | undefined;
  /** The largest single event of a streamed body (see `generation.maxEventBytes`). @default Infinity */
  maxEventBytes?: number | undefined;
  /** The largest non-streamed answer (see `generation.maxBytes`); a model list is bounded by it too. @default Infinity */
  maxAnswerBytes?: number | undefined;
  /** The APIs the upstream speaks (see `defaultOpenAIApis`). @default ['chat'] */
  apis?: readonly ApiName[] | undefined;
}

/** The path of each API under the base URL. */
const API_PATHS: Readonly<Record<ApiName, string>> = {
  chat: '/chat/completions',
  responses: '/responses',
  messages: '/messages',
};

/**
 * The APIs an OpenAI-compatible upstream speaks when the configuration does not say: OpenAI and
 * Azure OpenAI speak Responses too; other compatible servers (Ollama, vLLM …) speak chat only.
 */
export function defaultOpenAIApis(baseURL: string): readonly ApiName[] {
  const host = new URL(baseURL).hostname;
  return host === 'api.openai.com' || host.endsWith('.openai.azure.com') ? ['chat', 'responses'] : ['chat'];
}

/** A chat provider that speaks OpenAI's HTTP API through a pooled keep-alive undici client. */
export class OpenAIProvider implements ChatProvider {
  readonly name: string;
  readonly apis: readonly ApiName[];
  readonly #pool: Pool;
  readonly #pathPrefix: string;
  readonly #options: OpenAIProviderOptions;

  constructor(options: OpenAIProviderOptions) {
    this.name = options.name;
    this.apis = options.apis ?? ['chat'];
    this.#options = options;
    const url = new URL(options.baseURL);
    this.#pathPrefix = url.pathname.replace(/\/+$/, '');
    this.#pool = new Pool(url.origin, {
      connections: options.connections ?? 128,
      connect: { timeout: options.connectTimeoutMs ?? 10_000 },
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
  }

  #headers(context: ProviderCallContext | undefined, accept: string): Record<string, string> {
    const headers: Record<string, string> = {
      accept,
      'content-type': 'application/json',
      ...this.#options.headers,
    };
    if (this.#options.apiKey) headers.authorization = `Bearer ${this.#options.apiKey}`;
    if (context) {
      headers[REQUEST_ID_HEADER] = context.requestId;
      for (const name of this.#options.passHeaders ?? []) {
        const value = context.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
    }
    return headers;
  }

  async #post(path: string, body: unknown, context: ProviderCallContext, accept: string) {
    try {
      return await this.#pool.request({
        method: 'POST',
        path: `${this.#pathPrefix}${path}`,
        headers: this.#headers(context, accept),
        body: JSON.stringify(body),
        signal: context.signal,
        headersTimeout: this.#options.firstByteTimeoutMs ?? 120_000,
        bodyTimeout: this.#options.idleTimeoutMs ?? 120_000,
      });
    } catch (error) {
      throw toUpstreamError(error, this.name, context.signal);
    }
  }

  openStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<UpstreamEvent>> {
    return this.openNative('chat', request as unknown as Record<string, unknown>, context);
  }

  async openNative(
    api: ApiName,
    body: Readonly<Record<string, unknown>>,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<UpstreamEvent>> {
    const { name } = this;
    const { signal } = context;
    const response = await requestSse(
      this.#pool,
      {
        method: 'POST',
        path: `${this.#pathPrefix}${API_PATHS[api]}`,
        headers: this.#headers(context, 'text/event-stream'),
        // A Buffer, so that undici does not keep both the string and its own copy for the stream's life.
        body: Buffer.from(JSON.stringify({ ...body, stream: true })),
        signal,
        headersTimeout: this.#options.firstByteTimeoutMs ?? 120_000,
        bodyTimeout: this.#options.idleTimeoutMs ?? 120_000,
        maxEventBytes: this.#options.maxEventBytes,
      },
      (error) => toUpstreamError(error, name, signal),
    );
    // Chat events are normalized; another API's pass through untouched (only Spool's ids are added).
    if (response.kind === 'events')
      return api === 'chat' ? normalizeChatEvents(response.events, name) : response.events;
    throw notAnEventStream(name, response);
  }

  complete(request: ChatCompletionRequest, context: ProviderCallContext): Promise<CompletionResult> {
    return this.completeNative('chat', request as unknown as Record<string, unknown>, context);
  }

  completeNative(
    api: ApiName,
    body: Readonly<Record<string, unknown>>,
    context: ProviderCallContext,
  ): Promise<CompletionResult> {
    return this.#postJson(API_PATHS[api], { ...body, stream: false }, context);
  }

  embeddings(request: EmbeddingsRequest, context: ProviderCallContext): Promise<CompletionResult> {
    return this.#postJson('/embeddings', request, context);
  }

  /** POSTs a JSON body and resolves with the upstream's 2xx JSON answer. */
  async #postJson(path: string, body: unknown, context: ProviderCallContext): Promise<CompletionResult> {
    const response = await this.#post(path, body, context, 'application/json');
    if (response.statusCode < 200 || response.statusCode >= 300) {
      throw await upstreamHttpError(this.name, response.statusCode, response.headers, response.body);
    }
    try {
      return {
        body: await readJsonBody(
          response.body,
          this.#options.maxAnswerBytes ?? Number.POSITIVE_INFINITY,
          this.name,
        ),
      };
    } catch (error) {
      throw toUpstreamError(error, this.name, context.signal);
    }
  }

  async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
    let response: Awaited<ReturnType<Pool['request']>>;
    try {
      response = await this.#pool.request({
        method: 'GET',
        path: `${this.#pathPrefix}/models`,
        headers: this.#headers(undefined, 'application/json'),
        signal,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
    } catch (error) {
      throw toUpstreamError(error, this.name, signal);
    }
    if (response.statusCode !== 200)
      throw await upstreamHttpError(this.name, response.statusCode, response.headers, response.body);
    const body = (await readJsonBody(
      response.body,
      this.#options.maxAnswerBytes ?? Number.POSITIVE_INFINITY,
      this.name,
    )) as { data?: unknown };
    if (!Array.isArray(body.data)) return [];
    return body.data.filter(
      (entry): entry is ModelInfo =>
        typeof entry === 'object' && entry !== null && typeof entry.id === 'string',
    );
  }

  async checkReady(signal: AbortSignal): Promise<void> {
    await this.listModels(signal);
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/** Maps a transport failure (connect, timeout, reset) to the contract's 502/504 errors. */
export function toUpstreamError(error: unknown, name: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason ?? error;
  if (error instanceof UpstreamError) return error;
  if (error instanceof SseEventTooLargeError) {
    // The same request would most likely send the same event again: not retried.
    return UpstreamError.ofCode(
      'upstream_event_too_large',
      `Upstream "${name}" sent an event larger than ${error.maxEventLength} bytes (generation.maxEventBytes); the stream was stopped and the upstream connection closed.`,
      { cause: error, retryable: false },
    );
  }
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return UpstreamError.ofCode(
      'upstream_timeout',
      `Upstream "${name}" timed out (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  if (error instanceof undiciErrors.ConnectTimeoutError) {
    return UpstreamError.ofCode('upstream_timeout', `Connecting to upstream "${name}" timed out`, {
      cause: error,
    });
  }
  const code = (error as { code?: string }).code ?? '';
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) {
    return UpstreamError.ofCode('upstream_unreachable', `Upstream "${name}" is unreachable (${code})`, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return UpstreamError.ofCode('upstream_error', `Upstream "${name}" failed: ${message}`, { cause: error });
}

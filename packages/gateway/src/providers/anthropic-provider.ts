import type { ChatCompletionRequest, ModelInfo } from '@spool/protocol';
import { REQUEST_ID_HEADER } from '@spool/protocol';
import { Pool } from 'undici';
import { UpstreamError } from '../errors.js';
import type { ApiName } from '../surfaces/api-name.js';
import { AnthropicStreamTranslator, fromAnthropicResponse } from './anthropic-response.js';
import { toAnthropicRequest } from './anthropic-translate.js';
import { toUpstreamError } from './openai-provider.js';
import type { ChatProvider, CompletionResult, ProviderCallContext, UpstreamEvent } from './provider.js';
import { type ReadableBody, readJsonBody } from './read-json-body.js';
import { requestSse } from './sse-request.js';
import { notAnEventStream, upstreamHttpError } from './upstream-http-error.js';

/** Options of an Anthropic Messages API upstream. */
export interface AnthropicProviderOptions {
  /** The provider's name in the configuration. */
  name: string;
  /** Base URL without the version prefix; requests go to `{baseURL}/v1/messages`. @default 'https://api.anthropic.com' */
  baseURL?: string | undefined;
  /** Sent as `x-api-key`. */
  apiKey?: string | undefined;
  /** Sent as `anthropic-version`. @default '2023-06-01' */
  anthropicVersion?: string | undefined;
  /** `max_tokens` when a request sets none (Anthropic requires it). @default 4096 */
  defaultMaxTokens?: number | undefined;
  /** Extra headers sent on every upstream request (e.g. `anthropic-beta`). */
  headers?: Record<string, string> | undefined;
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
  /** Clock in milliseconds, for the `created` field of answers. @default Date.now */
  now?: (() => number) | undefined;
}

type ResolvedOptions = Required<
  Omit<AnthropicProviderOptions, 'apiKey' | 'headers' | 'maxEventBytes' | 'maxAnswerBytes'>
> &
  Pick<AnthropicProviderOptions, 'apiKey' | 'headers' | 'maxEventBytes' | 'maxAnswerBytes'>;

function resolveOptions(options: AnthropicProviderOptions): ResolvedOptions {
  return {
    ...options,
    baseURL: options.baseURL ?? 'https://api.anthropic.com',
    anthropicVersion: options.anthropicVersion ?? '2023-06-01',
    defaultMaxTokens: options.defaultMaxTokens ?? 4096,
    connections: options.connections ?? 128,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    firstByteTimeoutMs: options.firstByteTimeoutMs ?? 120_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
    now: options.now ?? Date.now,
  };
}

/** Anthropic's "overloaded" status; not a standard HTTP status, so clients would not know it. */
const ANTHROPIC_OVERLOADED_STATUS = 529;

/** The headers of a Messages client forwarded to Anthropic. */
const FORWARDED_HEADERS = ['anthropic-version', 'anthropic-beta'] as const;

/**
 * A chat provider that serves OpenAI chat completions from Anthropic's Messages API, translating
 * requests, streams and answers both ways, through a pooled keep-alive undici client.
 */
export class AnthropicProvider implements ChatProvider {
  readonly name: string;
  /** Chat completions (translated) and Messages (passed through untouched). */
  readonly apis: readonly ApiName[] = ['chat', 'messages'];
  readonly #pool: Pool;
  readonly #pathPrefix: string;
  readonly #options: ResolvedOptions;

  constructor(options: AnthropicProviderOptions) {
    this.name = options.name;
    this.#options = resolveOptions(options);
    const url = new URL(this.#options.baseURL);
    this.#pathPrefix = url.pathname.replace(/\/+$/, '');
    this.#pool = new Pool(url.origin, {
      connections: this.#options.connections,
      connect: { timeout: this.#options.connectTimeoutMs },
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
  }

  #headers(
    accept: string,
    requestId?: string,
    client?: ProviderCallContext['headers'],
  ): Record<string, string> {
    const headers: Record<string, string> = {
      accept,
      'content-type': 'application/json',
      'anthropic-version': this.#options.anthropicVersion,
      ...this.#options.headers,
    };
    // A Messages client's own version and betas (Claude Code sends both) reach Anthropic as sent.
    for (const name of FORWARDED_HEADERS) {
      const value = client?.[name];
      if (typeof value === 'string' && value !== '') headers[name] = value;
    }
    if (this.#options.apiKey) headers['x-api-key'] = this.#options.apiKey;
    if (requestId) headers[REQUEST_ID_HEADER] = requestId;
    return headers;
  }

  /** Streams a Messages request as it is (model already replaced); events come back untouched. */
  async openNative(
    api: ApiName,
    body: Readonly<Record<string, unknown>>,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<UpstreamEvent>> {
    if (api !== 'messages') throw new Error(`Anthropic upstreams do not speak the ${api} API natively.`);
    return this.#streamMessages({ ...body, stream: true }, context, context.headers);
  }

  /** Posts a streamed Messages request; resolves with its events once the upstream accepted it. */
  async #streamMessages(
    body: unknown,
    context: ProviderCallContext,
    clientHeaders?: ProviderCallContext['headers'],
  ): Promise<AsyncIterable<UpstreamEvent>> {
    const { name } = this;
    const { signal } = context;
    const response = await requestSse(
      this.#pool,
      {
        method: 'POST',
        path: `${this.#pathPrefix}/v1/messages`,
        headers: this.#headers('text/event-stream', context.requestId, clientHeaders),
        body: Buffer.from(JSON.stringify(body)),
        signal,
        headersTimeout: this.#options.firstByteTimeoutMs,
        bodyTimeout: this.#options.idleTimeoutMs,
        maxEventBytes: this.#options.maxEventBytes,
      },
      (error) => toUpstreamError(error, name, signal),
    );
    if (response.kind !== 'events')
      throw notAnEventStream(name, response, { overloadedStatus: ANTHROPIC_OVERLOADED_STATUS });
    return response.events;
  }

  /** Runs a non-streamed Messages request as it is; the answer comes back untouched. */
  async completeNative(
    api: ApiName,
    body: Readonly<Record<string, unknown>>,
    context: ProviderCallContext,
  ): Promise<CompletionResult> {
    if (api !== 'messages') throw new Error(`Anthropic upstreams do not speak the ${api} API natively.`);
    const response = await this.#postMessages({ ...body, stream: false }, context, 'application/json');
    return { body: await this.#readAnswer(response.body, context.signal) };
  }

  /**
   * Anthropic's exact count of a Messages request's input tokens (`POST /v1/messages/count_tokens`),
   * the body passed through as it is (model already replaced).
   */
  async countMessageTokens(
    body: Readonly<Record<string, unknown>>,
    context: ProviderCallContext,
  ): Promise<{ input_tokens: number }> {
    const response = await this.#postMessages(body, context, 'application/json', '/count_tokens');
    const answer = (await this.#readAnswer(response.body, context.signal)) as { input_tokens?: unknown };
    if (typeof answer.input_tokens !== 'number') {
      throw UpstreamError.ofCode(
        'upstream_error',
        `Upstream "${this.name}" answered count_tokens without input_tokens.`,
      );
    }
    return { input_tokens: answer.input_tokens };
  }

  /** Reads a JSON answer, bounded by `maxAnswerBytes` (generation.maxBytes) as every answer is. */
  async #readAnswer(body: ReadableBody, signal: AbortSignal): Promise<unknown> {
    try {
      return await readJsonBody(body, this.#options.maxAnswerBytes ?? Number.POSITIVE_INFINITY, this.name);
    } catch (error) {
      throw toUpstreamError(error, this.name, signal);
    }
  }

  async #postMessages(body: unknown, context: ProviderCallContext, accept: string, subpath = '') {
    let response: Awaited<ReturnType<Pool['request']>>;
    try {
      response = await this.#pool.request({
        method: 'POST',
        path: `${this.#pathPrefix}/v1/messages${subpath}`,
        headers: this.#headers(accept, context.requestId, context.headers),
        body: JSON.stringify(body),
        signal: context.signal,
        headersTimeout: this.#options.firstByteTimeoutMs,
        bodyTimeout: this.#options.idleTimeoutMs,
      });
    } catch (error) {
      throw toUpstreamError(error, this.name, context.signal);
    }
    if (response.statusCode < 200 || response.statusCode >= 300) {
      throw await upstreamHttpError(this.name, response.statusCode, response.headers, response.body, {
        overloadedStatus: ANTHROPIC_OVERLOADED_STATUS,
      });
    }
    return response;
  }

  async openStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<UpstreamEvent>> {
    const body = toAnthropicRequest({ ...request, stream: true }, this.#options);
    const events = await this.#streamMessages(body, context);
    const translator = new AnthropicStreamTranslator({
      model: request.model,
      includeUsage: request.stream_options?.include_usage === true,
      now: this.#options.now,
    });
    return translateStream(events, translator, this.name, context.signal);
  }

  async complete(request: ChatCompletionRequest, context: ProviderCallContext): Promise<CompletionResult> {
    const body = toAnthropicRequest({ ...request, stream: false }, this.#options);
    const response = await this.#postMessages(body, context, 'application/json');
    const answer = await this.#readAnswer(response.body, context.signal);
    return { body: fromAnthropicResponse(answer, { model: request.model, now: this.#options.now }) };
  }

  async listModels(signal: AbortSignal): Promise<ModelInfo[]> {
    let response: Awaited<ReturnType<Pool['request']>>;
    try {
      response = await this.#pool.request({
        method: 'GET',
        // Anthropic pages the list (20 by default); 1000 is its largest page.
        path: `${this.#pathPrefix}/v1/models?limit=1000`,
        headers: this.#headers('application/json'),
        signal,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
    } catch (error) {
      throw toUpstreamError(error, this.name, signal);
    }
    if (response.statusCode !== 200)
      throw await upstreamHttpError(this.name, response.statusCode, response.headers, response.body, {
        overloadedStatus: ANTHROPIC_OVERLOADED_STATUS,
      });
    const body = (await this.#readAnswer(response.body, signal)) as { data?: unknown };
    if (!Array.isArray(body.data)) return [];
    return body.data.flatMap((entry: unknown): ModelInfo[] => {
      const model = entry as { id?: unknown; created_at?: unknown } | null;
      if (typeof model !== 'object' || model === null || typeof model.id !== 'string') return [];
      const createdMs = typeof model.created_at === 'string' ? Date.parse(model.created_at) : Number.NaN;
      return [
        {
          id: model.id,
          object: 'model',
          created: Number.isFinite(createdMs) ? Math.floor(createdMs / 1000) : 0,
          owned_by: 'anthropic',
        },
      ];
    });
  }

  async checkReady(signal: AbortSignal): Promise<void> {
    await this.listModels(signal);
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

async function* translateStream(
  events: AsyncIterable<UpstreamEvent>,
  translator: AnthropicStreamTranslator,
  name: string,
  signal: AbortSignal,
): AsyncGenerator<UpstreamEvent> {
  try {
    for await (const event of events) {
      for (const data of translator.push(event)) yield { data };
      // After message_stop or an error event nothing more belongs to this answer.
      if (translator.done) return;
    }
  } catch (error) {
    throw toUpstreamError(error, name, signal);
  }
}

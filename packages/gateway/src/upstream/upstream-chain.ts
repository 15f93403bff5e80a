import {
  type BackoffOptions,
  backoffDelayMs,
  type ChatCompletionRequest,
  DEFAULT_BACKOFF,
} from '@spool/protocol';
import { GatewayError, UpstreamError } from '../errors.js';
import type { EmbeddingsRequest } from '../http/validate-embeddings-request.js';
import { ITERATION_DONE } from '../iteration.js';
import {
  type BufferedEventSource,
  type ChatProvider,
  type CompletionResult,
  NO_EVENTS,
  type ProviderCallContext,
  speaksNatively,
  takeBuffered,
  type UpstreamEvent,
} from '../providers/provider.js';
import { startsWithErrorKey, upstreamEventError } from '../providers/upstream-event-error.js';
import type { ApiName } from '../surfaces/api-name.js';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.js';
import type { ConcurrencyLimiter } from './concurrency-limiter.js';

/** One place a model can be served from. */
export interface UpstreamTarget {
  provider: ChatProvider;
  /** The model name sent to this provider. */
  upstreamModel: string;
  /** Share of first attempts this target gets (0 = failover only). */
  weight: number;
}

/** How hard the gateway tries before giving up on a request. */
export interface ResilienceOptions {
  /** Retries of one target before failing over to the next, and their backoff. */
  retry: { attempts: number; initialDelayMs: number; maxDelayMs: number; maxRetryAfterMs: number };
  breaker: CircuitBreakerOptions;
  /** How long to wait for the first meaningful chunk before committing the 200 anyway. */
  readAheadMs: number;
}

/** What the chain reports, for metrics and logs. */
export interface UpstreamChainHooks {
  onRetry?(provider: string, error: UpstreamError, delayMs: number): void;
  onFailover?(from: string, to: string, error: GatewayError): void;
  onFailure?(provider: string, error: GatewayError): void;
}

/** A stream that passed read-ahead, and who serves it. */
export interface OpenedStream {
  events: AsyncIterable<UpstreamEvent>;
  provider: ChatProvider;
}

const abortable = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/**
 * The events of a stream that passed read-ahead: first the events read ahead, then the pull that
 * was under way when read-ahead ended, then the rest of the upstream; calls `release` once, when
 * the stream ends however it ends. A plain iterator rather than async generators (one for the
 * replay, one for the release): an idle open stream holds it for its whole life (bench/memory).
 */
class ReadAheadIterator implements AsyncIterableIterator<UpstreamEvent>, BufferedEventSource {
  #buffered: UpstreamEvent[] | undefined;
  #first: Promise<IteratorResult<UpstreamEvent>> | undefined;
  readonly #source: AsyncIterator<UpstreamEvent>;
  #release: (() => void) | undefined;

  constructor(
    source: AsyncIterator<UpstreamEvent>,
    buffered: UpstreamEvent[],
    first: Promise<IteratorResult<UpstreamEvent>> | undefined,
    release: () => void,
  ) {
    this.#source = source;
    this.#buffered = buffered.length > 0 ? buffered : undefined;
    this.#first = first;
    this.#release = release;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  takeBuffered(): readonly UpstreamEvent[] {
    if (this.#release === undefined) return NO_EVENTS;
    const buffered = this.#buffered;
    this.#buffered = undefined;
    // The pull under way when read-ahead ended comes before whatever the source parsed after it.
    if (this.#first !== undefined) return buffered ?? NO_EVENTS;
    const parsed = takeBuffered(this.#source);
    return buffered === undefined ? parsed : buffered.concat(parsed);
  }

  next(): Promise<IteratorResult<UpstreamEvent>> {
    if (this.#release === undefined) return Promise.resolve(ITERATION_DONE);
    const buffered = this.#buffered;
    if (buffered !== undefined) {
      const event = buffered.shift() as UpstreamEvent;
      // Released as soon as replayed, rather than held for the life of the stream.
      if (buffered.length === 0) this.#buffered = undefined;
      return Promise.resolve({ done: false, value: event });
    }
    const first = this.#first;
    this.#first = undefined;
    let pulled: Promise<IteratorResult<UpstreamEvent>>;
    try {
      pulled = first ?? this.#source.next();
    } catch (error) {
      return this.#onError(error);
    }
    // `then` with the iterator's own handlers rather than an async method: an idle stream waits
    // here for its whole life, and a suspended async frame costs more (bench/memory).
    return pulled.then(this.#onResult, this.#onError);
  }

  readonly #onResult = (
    result: IteratorResult<UpstreamEvent>,
  ): IteratorResult<UpstreamEvent> | Promise<IteratorResult<UpstreamEvent>> =>
    result.done ? this.#end(false).then(() => result) : result;

  readonly #onError = (error: unknown): Promise<never> => this.#end(true).then(() => Promise.reject(error));

  async return(): Promise<IteratorResult<UpstreamEvent>> {
    // A consumer that stops early (a [DONE], a Stop) must release the upstream connection.
    if (this.#release !== undefined) await this.#end(true);
    return ITERATION_DONE;
  }

  async #end(closeSource: boolean): Promise<void> {
    const release = this.#release;
    if (release === undefined) return;
    this.#release = undefined;
    this.#buffered = undefined;
    this.#first = undefined;
    try {
      if (closeSource) await this.#source.return?.().catch(() => {});
    } finally {
      release();
    }
  }
}

/** Whether an event read ahead of a chat stream is the upstream's error. */
function isChatError(event: UpstreamEvent): boolean {
  return event.event === 'error' || startsWithErrorKey(event.data);
}

/**
 * Whether an event read ahead of a native stream (Responses, Messages) is the upstream's error:
 * also when only its data's `type` says so, with no `event:` line or another one. Both APIs' errors
 * carry `"type":"error"`, and the client would get the event named by that type
 * (surfaces/native-event-shape.ts `namedByType`). A Responses `response.failed` is one too: the
 * Response failed before its first output.
 */
function isNativeError(event: UpstreamEvent): boolean {
  if (isChatError(event)) return true;
  // Read-ahead parses only events that may be an error: a `response.created` can be large.
  if (!event.data.includes('"error"')) return false;
  try {
    const type = (JSON.parse(event.data) as { type?: unknown } | null)?.type;
    return type === 'error' || type === 'response.failed';
  } catch {
    return false;
  }
}

/** Whether an event tells the client something (the first role-only chunk does not). */
function isMeaningful(event: UpstreamEvent): boolean {
  if (event.data === '[DONE]' || event.event === 'error') return true;
  try {
    // The chat normalizer keeps what it parsed: read-ahead's events are not parsed twice.
    const chunk = (event.parsed ?? JSON.parse(event.data)) as {
      error?: unknown;
      usage?: unknown;
      choices?: Array<{
        delta?: { content?: string | null; tool_calls?: unknown; refusal?: string | null };
        finish_reason?: unknown;
      }>;
    };
    if (chunk.error !== undefined || chunk.usage) return true;
    const choice = chunk.choices?.[0];
    if (!choice) return true;
    return Boolean(
      choice.delta?.content || choice.delta?.tool_calls || choice.delta?.refusal || choice.finish_reason,
    );
  } catch {
    return true;
  }
}

/**
 * Retries, failover and circuit breaking in front of the providers of one model. Before the first
 * meaningful chunk nothing has reached the client, so a failure there is retried with backoff
 * (honouring `Retry-After`), then tried on the next target; after it, failures are the stream's.
 */
export class UpstreamChain {
  readonly #breakers = new Map<string, CircuitBreaker>();
  /** The last retryable failure of each provider, to say why its breaker is open. */
  readonly #lastFailures = new Map<string, GatewayError>();
  readonly #options: ResilienceOptions;
  /** The backoff between attempts, normalized once rather than on every request. */
  readonly #retry: BackoffOptions;
  readonly #hooks: UpstreamChainHooks;
  readonly #random: () => number;
  readonly #now: () => number;

  readonly #limiters: ReadonlyMap<string, ConcurrencyLimiter>;

  constructor(
    options: ResilienceOptions,
    hooks: UpstreamChainHooks = {},
    limiters: ReadonlyMap<string, ConcurrencyLimiter> = new Map(),
    random = Math.random,
    now = Date.now,
  ) {
    this.#limiters = limiters;
    this.#options = options;
    this.#retry = {
      ...DEFAULT_BACKOFF,
      initialDelayMs: options.retry.initialDelayMs,
      maxDelayMs: options.retry.maxDelayMs,
    };
    this.#hooks = hooks;
    this.#random = random;
    this.#now = now;
  }

  /** The breaker of a provider (created on first use). */
  breaker(providerName: string): CircuitBreaker {
    let breaker = this.#breakers.get(providerName);
    if (!breaker) {
      breaker = new CircuitBreaker(this.#options.breaker, this.#now);
      this.#breakers.set(providerName, breaker);
    }
    return breaker;
  }

  /** The order to try targets in: one weighted pick first, then the rest by weight. */
  order(targets: readonly UpstreamTarget[]): UpstreamTarget[] {
    if (targets.length <= 1) return [...targets];
    const total = targets.reduce((sum, target) => sum + target.weight, 0);
    let first = 0;
    if (total > 0) {
      let point = this.#random() * total;
      first = targets.findIndex((target) => {
        point -= target.weight;
        return point < 0;
      });
      if (first < 0) first = targets.length - 1;
    }
    const rest = targets.filter((_, index) => index !== first).sort((a, b) => b.weight - a.weight);
    return [targets[first] as UpstreamTarget, ...rest];
  }

  /** Opens a stream on the first target that gets to a meaningful chunk. */
  openStream(
    targets: readonly UpstreamTarget[],
    body: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<OpenedStream> {
    return this.#run(targets, context.signal, async (target) => {
      const release = await this.#acquire(target, context.signal);
      try {
        const events = await target.provider.openStream({ ...body, model: target.upstreamModel }, context);
        return {
          events: await this.#readAhead(events, context.signal, release),
          provider: target.provider,
        };
      } catch (error) {
        release();
        throw error;
      }
    });
  }

  /**
   * Opens a stream of another API than chat on the first target that gets to a meaningful event:
   * natively (`body` passed through, its model replaced) where the target speaks `api`, else as
   * the chat completion `chatBody` whose events `translate` turns into the API's. `meaningful`
   * says which of the API's native events end read-ahead.
   */
  openSurface(
    targets: readonly UpstreamTarget[],
    api: ApiName,
    context: ProviderCallContext,
    options: {
      body: Readonly<Record<string, unknown>>;
      meaningful: (event: UpstreamEvent) => boolean;
      chatBody: ChatCompletionRequest;
      translate: (
        events: AsyncIterable<UpstreamEvent>,
        provider: ChatProvider,
      ) => AsyncIterable<UpstreamEvent>;
    },
  ): Promise<OpenedStream & { native: boolean }> {
    return this.#run(targets, context.signal, async (target) => {
      const { provider } = target;
      const native = speaksNatively(provider, api);
      const release = await this.#acquire(target, context.signal);
      try {
        if (!native) {
          const events = await provider.openStream(
            { ...options.chatBody, model: target.upstreamModel },
            context,
          );
          const chat = await this.#readAhead(events, context.signal, release);
          return { events: options.translate(chat, provider), provider, native };
        }
        const openNative = provider.openNative as NonNullable<ChatProvider['openNative']>;
        const events = await openNative.call(
          provider,
          api,
          { ...options.body, model: target.upstreamModel },
          context,
        );
        return {
          events: await this.#readAhead(events, context.signal, release, options.meaningful, isNativeError),
          provider,
          native,
        };
      } catch (error) {
        release();
        throw error;
      }
    });
  }

  /** Runs a non-streamed completion on the first target that answers. */
  complete(
    targets: readonly UpstreamTarget[],
    body: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<CompletionResult & { provider: ChatProvider }> {
    return this.#answer(targets, context.signal, (provider, model) =>
      provider.complete({ ...body, model }, context),
    );
  }

  /** Runs an embeddings request on the first target that answers. */
  embeddings(
    targets: readonly UpstreamTarget[],
    body: EmbeddingsRequest,
    context: ProviderCallContext,
  ): Promise<CompletionResult & { provider: ChatProvider }> {
    return this.#answer(targets, context.signal, (provider, model) => {
      if (!provider.embeddings) {
        throw GatewayError.of(
          'invalid_request',
          `The model \`${body.model}\` is routed to "${provider.name}", whose API has no embeddings; route it to an OpenAI-compatible provider.`,
          { param: 'model' },
        );
      }
      return provider.embeddings({ ...body, model }, context);
    });
  }

  /** One JSON answer from the first target that gives one, holding a pooled connection meanwhile. */
  #answer(
    targets: readonly UpstreamTarget[],
    signal: AbortSignal,
    call: (provider: ChatProvider, upstreamModel: string) => Promise<CompletionResult>,
  ): Promise<CompletionResult & { provider: ChatProvider }> {
    return this.#run(targets, signal, async (target) => {
      const release = await this.#acquire(target, signal);
      try {
        return { ...(await call(target.provider, target.upstreamModel)), provider: target.provider };
      } finally {
        release();
      }
    });
  }

  #acquire(target: UpstreamTarget, signal: AbortSignal): Promise<() => void> {
    const limiter = this.#limiters.get(target.provider.name);
    return limiter ? limiter.acquire(signal) : Promise.resolve(() => {});
  }

  async #run<T>(
    targets: readonly UpstreamTarget[],
    signal: AbortSignal,
    attempt: (target: UpstreamTarget) => Promise<T>,
  ): Promise<T> {
    const retry = this.#retry;
    let lastError: GatewayError | undefined;
    let previous: string | undefined;
    for (const target of this.order(targets)) {
      const name = target.provider.name;
      const breaker = this.breaker(name);
      if (!breaker.tryAcquire()) {
        lastError ??= this.#breakerOpen(name, breaker);
        continue;
      }
      if (previous !== undefined && lastError) this.#hooks.onFailover?.(previous, name, lastError);
      previous = name;
      for (let attemptNumber = 1; ; attemptNumber++) {
        try {
          const result = await attempt(target);
          breaker.recordSuccess();
          return result;
        } catch (error) {
          if (signal.aborted) {
            breaker.releaseProbe();
            throw signal.reason ?? error;
          }
          // Says whose error it is: a client tells "rate limited by the provider" from the gateway's own.
          if (error instanceof UpstreamError) error.body.error.provider ??= name;
          if (!(error instanceof UpstreamError) || !error.retryable) {
            // The upstream answered (a client error): it is healthy, and another one would say the same.
            breaker.recordSuccess();
            throw error;
          }
          lastError = error;
          this.#lastFailures.set(name, error);
          this.#hooks.onFailure?.(name, error);
          if (error.status !== 429) breaker.recordFailure();
          else breaker.releaseProbe();
          if (attemptNumber > this.#options.retry.attempts || breaker.state === 'open') break;
          const retryAfterMs =
            error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : undefined;
          if (retryAfterMs !== undefined && retryAfterMs > this.#options.retry.maxRetryAfterMs) break;
          const delayMs = retryAfterMs ?? backoffDelayMs(attemptNumber, retry, this.#random);
          this.#hooks.onRetry?.(name, error, delayMs);
          await abortable(delayMs, signal);
          if (!breaker.tryAcquire()) break;
        }
      }
    }
    throw lastError ?? GatewayError.of('upstream_unreachable', 'No upstream is configured for this model.');
  }

  /**
   * The answer while an upstream's breaker is open: why it opened (the last failure's message) and
   * when it is tried again. No `Retry-After`: the cool-down is the gateway's, not a rate limit the
   * client should wait out; a client that retries sooner is told the same at once.
   */
  #breakerOpen(name: string, breaker: CircuitBreaker): GatewayError {
    const last = this.#lastFailures.get(name);
    const seconds = Math.ceil(breaker.msUntilProbe() / 1000);
    const why = last ? last.message.replace(/\.$/, '') : `Upstream "${name}" is failing`;
    const error = GatewayError.of(
      'upstream_unreachable',
      `${why}. The gateway stopped sending to it after repeated failures and tries it again in ${seconds} s.`,
    );
    error.body.error.provider = name;
    return error;
  }

  /**
   * Pulls events until one is meaningful (or `readAheadMs` passes), so that an upstream that answers
   * 200 and then fails (an event `isError` says is its error) can still be retried elsewhere; the
   * events read are replayed to the caller.
   */
  async #readAhead(
    events: AsyncIterable<UpstreamEvent>,
    signal: AbortSignal,
    release: () => void,
    meaningful: (event: UpstreamEvent) => boolean = isMeaningful,
    isError: (event: UpstreamEvent) => boolean = isChatError,
  ): Promise<AsyncIterable<UpstreamEvent>> {
    const iterator = events[Symbol.asyncIterator]();
    const buffered: UpstreamEvent[] = [];
    let pending: Promise<IteratorResult<UpstreamEvent>> | undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#options.readAheadMs);
    });
    try {
      for (;;) {
        pending = iterator.next();
        const result = await Promise.race([pending, deadline]);
        if (result === 'timeout') break;
        pending = undefined;
        if (result.done) {
          throw UpstreamError.ofCode(
            'upstream_error',
            'The upstream ended the stream before its first token.',
          );
        }
        const event = result.value;
        if (isError(event)) {
          throw upstreamEventError(event.data, 'The upstream sent an error before its first token.', {
            retryable: true,
          });
        }
        buffered.push(event);
        if (meaningful(event)) break;
      }
    } catch (error) {
      await iterator.return?.().catch(() => {});
      if (signal.aborted) throw signal.reason ?? error;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return new ReadAheadIterator(iterator, buffered, pending, release);
  }
}

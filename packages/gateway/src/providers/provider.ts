import type { ChatCompletionRequest, ModelInfo } from '@spool/protocol';
import type { EmbeddingsRequest } from '../http/validate-embeddings-request.js';
import type { ApiName } from '../surfaces/api-name.js';

/** One event from an upstream stream, before the gateway numbers it. */
export interface UpstreamEvent {
  /** The event's data, exactly as the upstream sent it (`[DONE]` included). */
  data: string;
  /** The upstream's event type, when it set one. */
  event?: string | undefined;
  /**
   * `data` as JSON, when a step before already parsed it (see {@link SseEvent}), so that a
   * translation does not parse it again. Shared: read it, never change it.
   */
  readonly parsed?: unknown;
}

/**
 * An upstream event as the SSE parser reads it. A step that parses its data anyway (the chat
 * normalizer parses every chunk) keeps the result on it for a translation of the stream, which
 * would otherwise parse every chunk a second time: in a private field, so that the event still
 * reads, spreads and compares as its `data` and `event` alone.
 */
export class SseEvent implements UpstreamEvent {
  data: string;
  event: string | undefined;
  #parsed: unknown;

  constructor(data: string, event: string | undefined) {
    this.data = data;
    this.event = event;
  }

  get parsed(): unknown {
    return this.#parsed;
  }

  /** Keeps `value`, which must be `JSON.parse(this.data)`, for the steps after. */
  keepParsed(value: unknown): void {
    this.#parsed = value;
  }
}

/**
 * An event iterator that can also hand over, synchronously, the events it has already parsed
 * after the one its last `next()` returned. One upstream read often carries dozens of events;
 * taking them together lets the relay store and forward them as one batch instead of paying a
 * promise round trip per event. Never called while a `next()` is under way.
 */
export interface BufferedEventSource {
  takeBuffered(): readonly UpstreamEvent[];
}

/** None, shared: asked after every event, the answer is nearly always none (no array per event). */
export const NO_EVENTS: readonly UpstreamEvent[] = Object.freeze([]);

/** The events already parsed after the last one pulled, when the iterator can tell; else none. */
export function takeBuffered(iterator: object): readonly UpstreamEvent[] {
  return 'takeBuffered' in iterator ? (iterator as BufferedEventSource).takeBuffered() : NO_EVENTS;
}

/** What a provider gets besides the request body. */
export interface ProviderCallContext {
  /** Aborted when generation must stop (a Stop, a shutdown, a grace period that ran out). */
  signal: AbortSignal;
  /** The gateway's request id, forwarded upstream for correlation. */
  requestId: string;
  /** Request headers the provider may read or forward (lower-case names). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** A non-streamed upstream answer: its status and JSON body, relayed as they are when 2xx. */
export interface CompletionResult {
  body: unknown;
}

/**
 * An upstream that serves chat completions. `openStream` resolves only once the upstream has
 * committed to a successful response, so the gateway can still answer an HTTP error before it
 * commits its own 200; errors after that come out of the iterator.
 */
export interface ChatProvider {
  /** The provider's name in the configuration. */
  readonly name: string;
  /**
   * The APIs the upstream speaks. Every provider serves chat completions (translating when its
   * upstream speaks another API); a surface listed here is passed through natively with
   * `openNative`/`completeNative`. @default ['chat']
   */
  readonly apis?: readonly ApiName[];
  /**
   * Opens a streamed request of an API listed in `apis`, the client's body passed through as it
   * is (model already replaced); upstream events come back untouched.
   */
  openNative?(
    api: ApiName,
    body: Readonly<Record<string, unknown>>,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<UpstreamEvent>>;
  /** Runs a non-streamed request of an API listed in `apis`, passed through as it is. */
  completeNative?(
    api: ApiName,
    body: Readonly<Record<string, unknown>>,
    context: ProviderCallContext,
  ): Promise<CompletionResult>;
  /** Opens a streamed completion; throws `UpstreamError` when the upstream refuses. */
  openStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<UpstreamEvent>>;
  /** Runs a non-streamed completion; throws `UpstreamError` when the upstream refuses. */
  complete(request: ChatCompletionRequest, context: ProviderCallContext): Promise<CompletionResult>;
  /**
   * Runs an embeddings request (`POST /embeddings`); throws `UpstreamError` when the upstream
   * refuses. Absent when the upstream's API has no embeddings (Anthropic's).
   */
  embeddings?(request: EmbeddingsRequest, context: ProviderCallContext): Promise<CompletionResult>;
  /** The models the upstream lists. */
  listModels(signal: AbortSignal): Promise<ModelInfo[]>;
  /** Resolves when the upstream is reachable (for `/ready`). */
  checkReady(signal: AbortSignal): Promise<void>;
  /** Releases pooled connections. */
  close(): Promise<void>;
}

/** Whether a provider passes requests of `api` through natively (else they are translated through chat). */
export function speaksNatively(provider: ChatProvider, api: ApiName): boolean {
  return provider.apis?.includes(api) === true && provider.openNative !== undefined;
}

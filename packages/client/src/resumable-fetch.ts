import { IDEMPOTENCY_KEY_HEADER, LAST_EVENT_ID_HEADER, STREAM_ID_HEADER } from '@spool/protocol';
import { toClientError } from './error-mapping.js';
import { IdleTimeoutError } from './errors.js';
import { newIdempotencyKey } from './idempotency-key.js';
import { globalLifecycle, type LifecycleSource } from './lifecycle.js';
import { createReconnectBackoff, type ReconnectBackoff } from './reconnect-backoff.js';
import { ResumableBody } from './resumable-body.js';
import type {
  FetchFunction,
  ReconnectInfo,
  ResumableFetch,
  ResumableFetchOptions,
  ResumableStreamStats,
} from './resumable-fetch-types.js';
import type { PlannedRequest } from './resume-planner.js';
import { type NormalizedRetryOptions, normalizeRetryOptions } from './retry-policy.js';
import type { Scheduler } from './scheduler.js';

/** {@link ResumableFetchOptions} with every default filled in. */
export interface NormalizedResumableFetchOptions {
  fetch: FetchFunction;
  retry: NormalizedRetryOptions;
  idleTimeoutMs: number;
  cancelOnAbort: boolean;
  match: (url: URL) => boolean;
  resumeUrl: (requestUrl: string, streamId: string) => string | undefined;
  lifecycle: LifecycleSource;
  scheduler: Scheduler | undefined;
  maxEventLength: number;
  onReconnect: ((info: ReconnectInfo) => void) | undefined;
  onStreamEnd: ((stats: ResumableStreamStats, error: unknown) => void) | undefined;
}

/** Resolves `resumableFetch`'s options; the single home of their defaults. */
export function normalizeResumableFetchOptions(
  options: ResumableFetchOptions = {},
): NormalizedResumableFetchOptions {
  return {
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    retry: normalizeRetryOptions(options.retry),
    idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
    cancelOnAbort: options.cancelOnAbort ?? false,
    match: options.match ?? (() => true),
    resumeUrl: options.resumeUrl ?? defaultStreamUrl,
    lifecycle: options.lifecycle ?? globalLifecycle(),
    scheduler: options.scheduler,
    maxEventLength: options.maxEventLength ?? 16 * 1024 * 1024,
    onReconnect: options.onReconnect,
    onStreamEnd: options.onStreamEnd,
  };
}

/**
 * A `fetch` for any SDK (openai, @anthropic-ai/sdk, the AI SDK's providers, LangChain) that makes Spool
 * streams survive drops without a change to the code that reads them. A streaming request (a JSON body
 * with `"stream": true`) gets an `Idempotency-Key` if it has none; when the gateway answers with
 * `X-Stream-Id`, the SDK receives a body that reconnects on a break (`GET /v1/streams/{id}` with
 * `Last-Event-ID`, the client's backoff) and hands over every event once, whole. Everything else —
 * non-streaming calls, answers without `X-Stream-Id`, requests `match` rejects — passes through untouched.
 * A streaming POST that fails before any answer is sent again with the same `Idempotency-Key`.
 * @example
 * const openai = new OpenAI({ baseURL: 'https://gateway.example/v1', fetch: resumableFetch() });
 */
export function resumableFetch(options: ResumableFetchOptions = {}): ResumableFetch {
  const settings = normalizeResumableFetchOptions(options);
  let latest: ResumableBody | undefined;

  const resumable = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = await describeStreamingRequest(input, init);
    if (request === undefined || !settings.match(absoluteUrl(request.url)))
      return settings.fetch(input, init);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has(IDEMPOTENCY_KEY_HEADER)) headers.set(IDEMPOTENCY_KEY_HEADER, newIdempotencyKey());
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined;
    const backoff = createReconnectBackoff(settings.retry, settings.lifecycle);
    const release = await settings.scheduler?.acquire(signal);
    let holdsSlot = release !== undefined;
    try {
      const { response, abort, unlink } = await sendWithRepost(settings, backoff, request.url, {
        ...init,
        method: 'POST',
        headers,
        body: request.body,
        signal,
      });
      const streamId = response.headers.get(STREAM_ID_HEADER);
      const streamUrl = streamId ? settings.resumeUrl(request.url, streamId) : undefined;
      const isEventStream = response.headers.get('content-type')?.includes('text/event-stream') ?? false;
      if (!response.ok || !streamId || !streamUrl || !isEventStream || !response.body) return response;
      const body: ResumableBody = new ResumableBody({
        streamId,
        streamUrl,
        headers: resumeHeaders(headers),
        fetch: (url, requestInit) => settings.fetch(url, requestInit),
        signal,
        backoff,
        idleTimeoutMs: settings.idleTimeoutMs,
        cancelOnAbort: settings.cancelOnAbort,
        maxEventLength: settings.maxEventLength,
        onReconnect: settings.onReconnect,
        onEnd: (error) => {
          unlink();
          release?.();
          settings.onStreamEnd?.(body.stats(), error);
        },
      });
      holdsSlot = false;
      latest = body;
      const spliced = new Response(body.stream(response, abort), {
        status: response.status,
        statusText: response.statusText,
        headers: withoutBodyEncoding(response.headers),
      });
      Object.defineProperty(spliced, 'url', { value: response.url });
      return spliced;
    } finally {
      if (holdsSlot) release?.();
    }
  };

  return Object.defineProperties(resumable, {
    lastStreamId: { get: () => latest?.stats().streamId, enumerable: true },
    lastEventId: { get: () => latest?.stats().lastEventId, enumerable: true },
    stats: { value: () => latest?.stats(), enumerable: true },
  }) as ResumableFetch;
}

/**
 * `…/v1/chat/completions`, `…/v1/responses` or `…/v1/messages` → `…/v1/streams/{id}`; other URLs have
 * no known resume endpoint.
 */
export function defaultStreamUrl(requestUrl: string, streamId: string): string | undefined {
  const url = absoluteUrl(requestUrl);
  const surface = /\/(chat\/completions|responses|messages)\/?$/.exec(url.pathname);
  if (surface === null) return undefined;
  url.pathname = `${url.pathname.slice(0, surface.index)}/streams/${encodeURIComponent(streamId)}`;
  url.search = '';
  url.hash = '';
  return url.href;
}

/** `url` resolved against the page's address, so a relative one (`/v1/chat/completions`) works in browsers. */
function absoluteUrl(url: string): URL {
  return new URL(url, (globalThis as { location?: { href?: string } }).location?.href);
}

/** A streaming POST as the wrapper sees it. */
interface StreamingRequest {
  url: string;
  body: string;
}

/** The request when it is a POST whose JSON body asks for `"stream": true`, else `undefined`. */
async function describeStreamingRequest(
  input: string | URL | Request,
  init: RequestInit | undefined,
): Promise<StreamingRequest | undefined> {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
  if (method.toUpperCase() !== 'POST') return undefined;
  let body: string | undefined;
  const raw = init?.body;
  if (typeof raw === 'string') body = raw;
  else if (raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)) body = new TextDecoder().decode(raw);
  else if (raw === undefined && input instanceof Request && input.body !== null)
    body = await input.clone().text();
  // Cheap test first: most non-streaming bodies never say "stream".
  if (body === undefined || !body.includes('"stream"')) return undefined;
  try {
    const parsed = JSON.parse(body) as { stream?: unknown } | null;
    return typeof parsed === 'object' && parsed?.stream === true ? { url, body } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sends the POST; when it fails before any answer (refused, cut, no byte for the idle timeout), sends
 * it again with the same `Idempotency-Key` after the backoff: the gateway attaches the re-send to the
 * generation the first one may have started. Rejects as `fetch` would once the backoff gives up.
 */
async function sendWithRepost(
  settings: NormalizedResumableFetchOptions,
  backoff: ReconnectBackoff,
  url: string,
  init: RequestInit & { headers: Headers; body: string },
): Promise<{ response: Response; abort: AbortController; unlink: () => void }> {
  const signal = init.signal ?? undefined;
  const planned: PlannedRequest = {
    kind: 'initial',
    url,
    method: 'POST',
    headers: {},
    body: init.body,
    fromEventId: 0,
  };
  for (;;) {
    const abort = new AbortController();
    const onAbort = () => abort.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const idleTimer =
      settings.idleTimeoutMs > 0
        ? setTimeout(() => abort.abort(new IdleTimeoutError(settings.idleTimeoutMs)), settings.idleTimeoutMs)
        : undefined;
    try {
      // The SDK's signal stays linked (it aborts a response passed through untouched) until `unlink`.
      const response = await settings.fetch(url, { ...init, signal: abort.signal });
      return { response, abort, unlink: () => signal?.removeEventListener('abort', onAbort) };
    } catch (raw) {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) throw raw;
      const error = toClientError(raw, abort.signal, planned);
      if (!error.retryable) throw raw;
      const step = backoff.next(error, undefined);
      if (step === undefined) throw raw;
      const { attempt, delayMs } = step;
      settings.onReconnect?.({
        streamId: undefined,
        attempt,
        delayMs,
        reason: error,
        lastEventId: undefined,
      });
      await backoff.wait(delayMs, signal ?? new AbortController().signal);
      planned.kind = 'repost';
    } finally {
      clearTimeout(idleTimer);
    }
  }
}

/** The request's headers for `GET`/`DELETE` on the stream: those describing the POST's body dropped. */
function resumeHeaders(headers: Headers): Headers {
  const copy = new Headers(headers);
  for (const name of ['content-type', 'content-length', IDEMPOTENCY_KEY_HEADER, LAST_EVENT_ID_HEADER]) {
    copy.delete(name);
  }
  return copy;
}

/** Response headers for the re-assembled body, which `fetch` already decoded and whose length differs. */
function withoutBodyEncoding(headers: Headers): Headers {
  const copy = new Headers(headers);
  copy.delete('content-encoding');
  copy.delete('content-length');
  return copy;
}

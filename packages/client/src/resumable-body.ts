import { LAST_EVENT_ID_HEADER, parseLastEventId } from '@spool/protocol';
import { loadErrorBodies, toClientError } from './error-mapping.js';
import { AbortError, HttpError, IdleTimeoutError, NetworkError, type SpoolClientError } from './errors.js';
import type { ReconnectBackoff } from './reconnect-backoff.js';
import type { ReconnectInfo, ResumableStreamStats } from './resumable-fetch-types.js';
import type { PlannedRequest } from './resume-planner.js';
import { SseSplicer } from './sse-splicer.js';
import { StatsRecorder } from './stats.js';
import type { TransportResponse } from './transport.js';
import { toTransportResponse } from './transport-fetch.js';

/** What a resumed body needs from the fetch that started it. */
export interface ResumableBodyContext {
  streamId: string;
  /** `GET` here resumes the stream, `DELETE` stops it. */
  streamUrl: string;
  /** The original request's headers minus those of its body (`content-type`, `idempotency-key` …). */
  headers: Headers;
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  /** The SDK's signal: aborting it ends the body without a reconnect. */
  signal: AbortSignal | undefined;
  backoff: ReconnectBackoff;
  idleTimeoutMs: number;
  cancelOnAbort: boolean;
  maxEventLength: number | undefined;
  onReconnect: ((info: ReconnectInfo) => void) | undefined;
  /** Called once when the body ends, `error` set unless it completed. */
  onEnd: (error: unknown) => void;
}

/** One connection of the stream: its response and the controller that aborts it. */
interface Connection {
  response: TransportResponse;
  abort: AbortController;
}

/**
 * A Spool stream handed to an SDK as one `Response` body: it reads the first connection, and on a
 * break (error, early end, no byte for `idleTimeoutMs`) reconnects with backoff to `GET streamUrl`
 * with `Last-Event-ID`, splicing the bodies at event boundaries. A 204 on resume ends it cleanly.
 */
export class ResumableBody {
  readonly #context: ResumableBodyContext;
  readonly #splicer: SseSplicer;
  readonly #recorder = new StatsRecorder();
  readonly #encoder = new TextEncoder();
  /** Aborted when the SDK aborts or cancels the body: stops reading, waiting and reconnecting. */
  readonly #stop = new AbortController();
  #delayMs = 0;
  #bytesSpliced = 0;
  #ended = false;

  constructor(context: ResumableBodyContext) {
    this.#context = context;
    this.#splicer = new SseSplicer({ maxEventLength: context.maxEventLength });
  }

  /** Measurements so far. */
  stats(): ResumableStreamStats {
    const snapshot = this.#recorder.snapshot();
    return {
      streamId: this.#context.streamId,
      lastEventId: this.#splicer.lastEventId,
      reconnects: snapshot.reconnects,
      delayMs: this.#delayMs,
      bytesSpliced: this.#bytesSpliced,
      stallMs: snapshot.stallMs,
      events: this.#splicer.events,
    };
  }

  /**
   * The body, starting with the first connection's `response` (whose request `abort` controls).
   * Aborting the SDK's signal errors it with the signal's reason, as `fetch` does.
   */
  stream(response: Response, abort: AbortController): ReadableStream<Uint8Array> {
    const { signal } = this.#context;
    const onAbort = () => this.#halt();
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
        this.#run(controller, { response: toTransportResponse(response), abort })
          .then(
            () => this.#end(undefined, () => controller.close()),
            (error: unknown) => this.#end(error, () => controller.error(error)),
          )
          .finally(() => signal?.removeEventListener('abort', onAbort));
      },
      cancel: () => {
        this.#halt();
      },
    });
  }

  #end(error: unknown, settle: () => void): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#recorder.finished();
    try {
      settle();
    } catch {
      // The SDK cancelled the body: there is no reader left to tell.
    }
    this.#context.onEnd(error);
  }

  /** The SDK is done with the stream: no reconnect, and `DELETE` when asked. */
  #halt(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(this.#context.signal?.reason ?? new AbortError());
    if (this.#context.cancelOnAbort && !this.#splicer.finished) void this.#sendDelete();
  }

  async #run(controller: ReadableStreamDefaultController<Uint8Array>, first: Connection): Promise<void> {
    let connection: Connection | undefined = first;
    let resumed = false;
    while (connection !== undefined) {
      try {
        await this.#read(connection, (bytes) => {
          if (resumed) this.#bytesSpliced += bytes.byteLength;
          controller.enqueue(bytes);
        });
        if (this.#splicer.finished) return;
        throw new NetworkError(`The stream ${this.#context.streamId} ended before its last event.`, {
          code: 'premature_close',
        });
      } catch (raw) {
        connection.abort.abort();
        if (this.#stop.signal.aborted) throw this.#stop.signal.reason;
        const error = toClientError(raw, connection.abort.signal, this.#planned());
        if (!error.retryable) throw error;
        this.#recorder.disconnected();
        connection = await this.#reconnect(error);
        resumed = true;
      }
    }
  }

  /** Reads one connection into the splicer; resolves at its end or once a terminal event is out. */
  async #read(connection: Connection, deliver: (bytes: Uint8Array) => void): Promise<void> {
    const { idleTimeoutMs } = this.#context;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const touch = () => {
      clearTimeout(idleTimer);
      if (idleTimeoutMs > 0) {
        idleTimer = setTimeout(
          () => connection.abort.abort(new IdleTimeoutError(idleTimeoutMs)),
          idleTimeoutMs,
        );
      }
    };
    // Stopped while this connection was being opened: its listener below would never fire.
    this.#stop.signal.throwIfAborted();
    const onStop = () => connection.abort.abort(this.#stop.signal.reason);
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    this.#splicer.beginConnection();
    const eventsBefore = this.#splicer.events;
    try {
      touch();
      await connection.response.read((text, byteLength) => {
        touch();
        this.#recorder.addBytes(byteLength);
        const output = this.#splicer.feed(text);
        if (output !== '') deliver(this.#encoder.encode(output));
        if (this.#splicer.events > eventsBefore) this.#context.backoff.reset();
        return this.#splicer.finished ? false : undefined;
      });
    } finally {
      clearTimeout(idleTimer);
      this.#stop.signal.removeEventListener('abort', onStop);
    }
  }

  /** Waits and reconnects until a connection opens; `undefined` when the server says there is no more (204). */
  async #reconnect(cause: SpoolClientError): Promise<Connection | undefined> {
    let error = cause;
    for (;;) {
      const step = this.#context.backoff.next(error, this.#splicer.retryMs);
      if (step === undefined) throw error;
      this.#context.onReconnect?.({
        streamId: this.#context.streamId,
        attempt: step.attempt,
        delayMs: step.delayMs,
        reason: error,
        lastEventId: this.#splicer.lastEventId,
      });
      await this.#context.backoff.wait(step.delayMs, this.#stop.signal);
      this.#delayMs += step.delayMs;
      this.#recorder.reconnecting();
      const planned = this.#planned();
      const abort = new AbortController();
      const onStop = () => abort.abort(this.#stop.signal.reason);
      this.#stop.signal.addEventListener('abort', onStop, { once: true });
      const { idleTimeoutMs } = this.#context;
      const idleTimer =
        idleTimeoutMs > 0
          ? setTimeout(() => abort.abort(new IdleTimeoutError(idleTimeoutMs)), idleTimeoutMs)
          : undefined;
      try {
        const response = toTransportResponse(
          await this.#context.fetch(planned.url, {
            method: 'GET',
            headers: planned.headers,
            signal: abort.signal,
          }),
        );
        if (response.status === 204) return undefined;
        if (response.status < 200 || response.status > 299) {
          error = await (await loadErrorBodies()).toHttpError(response, planned);
          if (!error.retryable) throw error;
          continue;
        }
        if (!response.headers.get('content-type')?.includes('text/event-stream')) {
          throw new HttpError(
            `${planned.url} answered a resume with ${response.headers.get('content-type')}.`,
            {
              code: 'not_event_stream',
              status: response.status,
              retryable: false,
            },
          );
        }
        this.#recorder.connected();
        return { response, abort };
      } catch (raw) {
        if (this.#stop.signal.aborted) throw this.#stop.signal.reason;
        error = toClientError(raw, abort.signal, planned);
        if (!error.retryable) throw error;
      } finally {
        clearTimeout(idleTimer);
        this.#stop.signal.removeEventListener('abort', onStop);
      }
    }
  }

  /** The resume request as the client's error mapping describes it. */
  #planned(): PlannedRequest {
    const headers: Record<string, string> = {};
    this.#context.headers.forEach((value, name) => {
      headers[name] = value;
    });
    headers.accept = 'text/event-stream';
    const lastEventId = this.#splicer.lastEventId;
    if (lastEventId !== undefined) headers[LAST_EVENT_ID_HEADER] = lastEventId;
    return {
      kind: 'resume',
      url: this.#context.streamUrl,
      method: 'GET',
      headers,
      body: undefined,
      fromEventId: parseLastEventId(lastEventId) ?? 0,
    };
  }

  /** Best effort: the gateway's grace period ends an orphaned generation anyway. */
  async #sendDelete(): Promise<void> {
    const timeout = AbortSignal.timeout(10_000);
    try {
      const response = await this.#context.fetch(this.#context.streamUrl, {
        method: 'DELETE',
        headers: this.#context.headers,
        signal: timeout,
      });
      await response.body?.cancel();
    } catch {
      // Nothing to do: the stream ends on its own.
    }
  }
}

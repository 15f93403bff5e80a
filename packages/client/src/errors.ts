/** What every `SpoolClientError` constructor accepts besides the message. */
export interface SpoolClientErrorOptions {
  /** Machine-readable code (the server's `error.code` when it sent one). */
  code: string;
  /** HTTP status, when the failure was an HTTP answer. */
  status?: number;
  /** Whether trying again could succeed (the retry policy's verdict). */
  retryable: boolean;
  /** The underlying error, if any. */
  cause?: unknown;
  /** The `X-Request-Id` of the failed exchange, to quote in a bug report. */
  requestId?: string;
}

/** Base class of every error `@spool/client` throws; carries what a caller needs to decide. */
export class SpoolClientError extends Error {
  /** Machine-readable code, e.g. `rate_limit_exceeded`, `network_error`, `idle_timeout`. */
  declare readonly code: string;
  /** HTTP status, when the failure was an HTTP answer. */
  declare readonly status: number | undefined;
  /** Whether trying again could succeed. */
  declare readonly retryable: boolean;
  /** The `X-Request-Id` of the failed exchange, when known. */
  declare readonly requestId: string | undefined;

  constructor(message: string, options: SpoolClientErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SpoolClientError';
    this.code = options.code;
    this.status = options.status;
    this.retryable = options.retryable;
    this.requestId = options.requestId;
  }
}

/** The server answered with a non-2xx status (or a 2xx that is not an event stream). */
export class HttpError extends SpoolClientError {
  /** Delay the server asked for via `Retry-After` / `retry-after-ms`, in ms. */
  declare readonly retryAfterMs: number | undefined;
  /** The parsed OpenAI-style error body, when the server sent one. */
  declare readonly body: unknown;

  constructor(
    message: string,
    options: SpoolClientErrorOptions & { status: number; retryAfterMs?: number; body?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
    this.retryAfterMs = options.retryAfterMs;
    this.body = options.body;
  }
}

/** The connection failed or was cut before the stream finished. */
export class NetworkError extends SpoolClientError {
  constructor(message: string, options: Partial<SpoolClientErrorOptions> = {}) {
    super(message, { code: 'network_error', retryable: true, ...options });
    this.name = 'NetworkError';
  }
}

/** No byte (not even a `: ping` heartbeat) arrived for `idleTimeoutMs`; the connection is presumed dead. */
export class IdleTimeoutError extends SpoolClientError {
  constructor(idleTimeoutMs: number) {
    super(
      `No data for ${idleTimeoutMs} ms; presumed dead. Raise \`idleTimeoutMs\` if heartbeats are rarer.`,
      { code: 'idle_timeout', retryable: true },
    );
    this.name = 'IdleTimeoutError';
  }
}

/** The server sent an error event in the middle of the stream (`data: {"error": …}` or `event: error`). */
export class StreamError extends SpoolClientError {
  /** The error body as sent, OpenAI-shaped when the server follows the contract. */
  declare readonly body: unknown;

  constructor(message: string, options: SpoolClientErrorOptions & { body?: unknown }) {
    super(message, options);
    this.name = 'StreamError';
    this.body = options.body;
  }
}

/** The stream dropped, the server cannot resume it, and `onNoResume` is `'fail'`. */
export class ResumeUnsupportedError extends SpoolClientError {
  constructor(cause: unknown) {
    super(
      "The connection dropped and the server cannot resume (no `X-Stream-Id`; from OpenAI, only a `background: true` Response resumes). Set `onNoResume: 'restart'` or use a Spool gateway.",
      { code: 'resume_unsupported', retryable: false, cause },
    );
    this.name = 'ResumeUnsupportedError';
  }
}

/** One of the caller's callbacks threw; the stream stops rather than hide the bug. */
export class CallbackError extends SpoolClientError {
  constructor(cause: unknown) {
    super(
      `A stream callback threw (${cause instanceof Error ? cause.message : String(cause)}); the stream stopped.`,
      {
        code: 'callback_error',
        retryable: false,
        cause,
      },
    );
    this.name = 'CallbackError';
  }
}

/**
 * The stream was stopped: code `aborted` by `cancel()` or the caller's `AbortSignal` (generation
 * stopped too), code `detached` by `detach()` (the gateway generates on; `chat.resume` reattaches).
 */
export class AbortError extends SpoolClientError {
  constructor(cause?: unknown, code: 'aborted' | 'detached' = 'aborted') {
    super(`The stream was ${code === 'detached' ? 'detached' : 'cancelled'}.`, {
      code,
      retryable: false,
      cause,
    });
    this.name = 'AbortError';
  }
}

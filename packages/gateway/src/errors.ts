import {
  errorBody,
  isRetryableStatus,
  type OpenAIErrorBody,
  type SpoolErrorCode,
  statusForCode,
} from '@spool/protocol';

/**
 * The gateway's base error: an HTTP status and an OpenAI-shaped body, ready for the wire.
 * Everything the gateway answers with an error goes through one of these.
 */
export class GatewayError extends Error {
  readonly status: number;
  readonly body: OpenAIErrorBody;
  /** Seconds for a `Retry-After` header, when the caller should come back later. */
  readonly retryAfterSeconds: number | undefined;
  /** Extra response headers (rate-limit state, `Allow`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    body: OpenAIErrorBody,
    options: {
      retryAfterSeconds?: number | undefined;
      cause?: unknown;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(body.error.message, { cause: options.cause });
    this.name = 'GatewayError';
    this.status = status;
    this.body = body;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = options.headers ?? {};
  }

  /** The machine-readable code of the body. */
  get code(): string | null {
    return this.body.error.code;
  }

  /** Builds an error for one of Spool's own codes. */
  static of(
    code: SpoolErrorCode,
    message: string,
    options: {
      param?: string | null;
      retryAfterSeconds?: number;
      cause?: unknown;
      headers?: Record<string, string>;
    } = {},
  ): GatewayError {
    return new GatewayError(statusForCode(code), errorBody(code, message, options.param ?? null), options);
  }
}

/** An upstream failure: before the first byte it becomes the response; after, an error event. */
export class UpstreamError extends GatewayError {
  /** Whether trying again (or another upstream) may succeed. */
  readonly retryable: boolean;
  constructor(
    status: number,
    body: OpenAIErrorBody,
    options: { retryAfterSeconds?: number | undefined; cause?: unknown; retryable?: boolean } = {},
  ) {
    super(status, body, options);
    this.name = 'UpstreamError';
    this.retryable = options.retryable ?? isRetryableStatus(status);
  }

  /** Builds an upstream error for one of Spool's own codes. */
  static ofCode(
    code: SpoolErrorCode,
    message: string,
    options: { retryAfterSeconds?: number; cause?: unknown; retryable?: boolean } = {},
  ): UpstreamError {
    return new UpstreamError(statusForCode(code), errorBody(code, message), options);
  }
}

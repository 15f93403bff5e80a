/** Every machine-readable code a testkit error carries. */
export type TestkitErrorCode =
  | 'invalid_argument'
  | 'binary_not_found'
  | 'process_exited'
  | 'start_timeout'
  | 'listen_failed'
  | 'proxy_closed';

/** Base class of every error thrown by @spool/testkit; `code` says what failed. */
export class TestkitError extends Error {
  /** What failed, for callers that branch on it. */
  readonly code: TestkitErrorCode;

  constructor(code: TestkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestkitError';
    this.code = code;
  }
}

/** A bad flag or option value: a fault argument or a `spool chaos` flag. */
export class InvalidArgumentError extends TestkitError {
  /** The flag or option at fault, e.g. `--cut-random` or `cutAfterBytes`. */
  readonly param: string;

  constructor(param: string, message: string) {
    super('invalid_argument', message);
    this.name = 'InvalidArgumentError';
    this.param = param;
  }
}

/** A program the helper needs (redis-server, node) is not installed or not on PATH. */
export class BinaryNotFoundError extends TestkitError {
  /** The binary that was looked for. */
  readonly bin: string;

  constructor(bin: string, message: string, options?: { cause?: unknown }) {
    super('binary_not_found', message, options);
    this.name = 'BinaryNotFoundError';
    this.bin = bin;
  }
}

/** A child process exited before it was ready, or was not ready before the deadline. */
export class ProcessStartError extends TestkitError {
  /** Everything the child wrote to stdout and stderr so far, for the test log. */
  readonly output: string;

  constructor(code: 'process_exited' | 'start_timeout', message: string, output: string) {
    super(code, output ? `${message}\n--- output ---\n${output}` : message);
    this.name = 'ProcessStartError';
    this.output = output;
  }
}

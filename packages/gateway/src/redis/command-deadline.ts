/** The error of a call that outlived its deadline (the message ioredis's own command timeout uses). */
export class CommandDeadlineError extends Error {
  readonly code = 'command_timeout';

  constructor(readonly timeoutMs: number) {
    super('Command timed out');
    this.name = 'CommandDeadlineError';
  }
}

/**
 * Rejects with a {@link CommandDeadlineError} when `operation` has not settled within `timeoutMs`.
 * A deadline per call, not per connection: users with different deadlines share one connection
 * (ioredis sets `commandTimeout` per connection). The commands themselves run on, as they do under
 * ioredis's own timeout; only the caller stops waiting.
 */
export function withDeadline<T>(operation: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CommandDeadlineError(timeoutMs)), timeoutMs);
    timer.unref();
  });
  return Promise.race([operation, expired]).finally(() => clearTimeout(timer));
}

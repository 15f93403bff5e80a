import type { Logger } from 'pino';
import { RedisConnections, type RedisLease } from '../redis/redis-connections.js';
import { StoreUnavailableError } from './store.js';

/** Where the spool's connections come from. */
export interface SpoolConnectionOptions {
  /** `redis://host:port/db`. */
  url: string;
  /** Connections to share (the gateway's); by default the store opens its own. */
  connections?: RedisConnections | undefined;
  /** The command timeout of connections the store opens itself. */
  commandTimeoutMs: number;
  log?: Logger | undefined;
}

/**
 * The spool's two connections: commands (appends, reads, scripts; shared with the gateway's other
 * Redis users when `connections` is given) and a subscriber of its own (the notify channels of
 * the streams read here, and the cancel channel).
 */
export interface SpoolConnections {
  commands: RedisLease;
  subscriber: RedisLease;
}

/** Opens the spool's connections, failing fast with a `StoreUnavailableError` when Redis cannot be reached. */
export async function connectSpool(options: SpoolConnectionOptions): Promise<SpoolConnections> {
  const connections =
    options.connections ??
    new RedisConnections({
      commandTimeoutMs: options.commandTimeoutMs,
      onError: (error) => options.log?.warn({ err: error }, 'redis connection error'),
    });
  const spool = {
    commands: connections.commands(options.url),
    subscriber: connections.subscriber(options.url),
  };
  try {
    await Promise.all([spool.commands.ready(), spool.subscriber.ready()]);
  } catch (error) {
    await releaseSpool(spool);
    throw new StoreUnavailableError(
      `Cannot connect to Redis at ${redactUrl(options.url)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return spool;
}

/** Gives the spool's connections back (each is closed unless another user still holds it). */
export async function releaseSpool(spool: SpoolConnections): Promise<void> {
  await Promise.allSettled([spool.commands.release(), spool.subscriber.release()]);
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}

import { Redis } from 'ioredis';

/** How one of the gateway's Redis connections differs from the others. */
export interface RedisConnectionOptions {
  /**
   * How long a command may take before it fails; `undefined` for none (a subscriber's connection,
   * which sits in SUBSCRIBE mode and only receives).
   */
  commandTimeoutMs: number | undefined;
  /** How long connecting may take. @default 2000 */
  connectTimeoutMs?: number | undefined;
  /** The name `CLIENT LIST` shows for the connection (`CLIENT SETNAME` on each connect). */
  name?: string | undefined;
  /** Where the connection's errors go (ioredis crashes the process on an unhandled `error` event). */
  onError?: (error: Error) => void;
}

/**
 * Opens one Redis connection as the gateway's connections all are (see `RedisConnections`, which
 * decides how many there are): it fails fast instead of queueing — a request must be answered (or
 * refused) now, not hang while Redis is down — and reconnects in the background with a capped
 * backoff. Not connected yet: call `connect()`.
 */
export function createRedisConnection(url: string, options: RedisConnectionOptions): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    ...(options.name === undefined ? {} : { connectionName: options.name }),
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(50 * 2 ** times, 2000),
  });
  redis.on('error', options.onError ?? (() => {}));
  return redis;
}

/**
 * Closes a connection: QUIT when it is up (the replies of commands already sent come first), else
 * a disconnect, which also stops its reconnecting (QUIT cannot be sent without an offline queue).
 */
export async function closeRedisConnection(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

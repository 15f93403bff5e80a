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
  /** Where the connection's errors go (ioredis crashes the process on an unhandled `error` event). */
  onError?: (error: Error) => void;
}

/**
 * The one place the gateway opens a Redis connection (spool, rate limits, usage, cache): it fails fast
 * instead of queueing — a request must be answered (or refused) now, not hang while Redis is down —
 * and reconnects in the background with a capped backoff. Not connected yet: call `connect()`.
 */
export function createRedisConnection(url: string, options: RedisConnectionOptions): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(50 * 2 ** times, 2000),
  });
  redis.on('error', options.onError ?? (() => {}));
  return redis;
}

import { MemoryRateLimiter } from './memory-rate-limiter.js';
import type { RateLimiter, RateLimiterOptions, RedisRateLimiterOptions } from './rate-limiter.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';

/** Where limits are kept: this process (`memory`, the default) or a Redis shared by every instance. */
export type RateLimiterStoreOptions =
  | ({ store?: 'memory' } & RateLimiterOptions)
  | ({ store: 'redis' } & RedisRateLimiterOptions);

/**
 * Builds the configured limiter.
 * @example
 * const limiter = await createRateLimiter({ store: 'redis', url: 'redis://127.0.0.1:6379', failMode: 'closed' });
 */
export async function createRateLimiter(options: RateLimiterStoreOptions = {}): Promise<RateLimiter> {
  if (options.store === 'redis') return RedisRateLimiter.connect(options);
  return new MemoryRateLimiter(options);
}

import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import { MemoryStore } from './memory-store.js';
import type { SpoolStore } from './store.js';

/** Creates the spool store the configuration asks for (a Redis one on the gateway's `connections`). */
export async function createStore(
  config: GatewayConfig,
  log: Logger,
  connections: RedisConnections,
): Promise<SpoolStore> {
  const limits = { retentionMs: config.spool.retentionMs, maxStreamBytes: config.spool.maxStreamBytes };
  if (config.spool.store === 'redis') {
    const { RedisStore } = await import('./redis-store.js');
    return RedisStore.connect({
      ...limits,
      url: config.spool.redisUrl as string,
      connections,
      keyPrefix: config.spool.keyPrefix,
      lostAfterMs: config.spool.lostAfterMs,
      log,
    });
  }
  return new MemoryStore({ ...limits, maxTotalBytes: config.spool.maxMemoryBytes });
}

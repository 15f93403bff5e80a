import type { Logger } from 'pino';
import type { Authenticator } from './auth.js';
import type { CompletionCache } from './cache/completion-cache.js';
import type { GatewayConfig } from './config/schema.js';
import type { GatewayMetrics } from './metrics.js';
import type { HeartbeatScheduler } from './relay/sse-writer.js';
import type { StreamRelay } from './relay/stream-relay.js';
import type { ModelRouter } from './routing.js';
import type { SpoolStore } from './spool/store.js';
import type { UpstreamChain } from './upstream/upstream-chain.js';

/** Everything a request handler needs, built once at start-up. */
export interface GatewayContext {
  config: GatewayConfig;
  router: ModelRouter;
  /** Retries, failover and circuit breakers in front of the providers. */
  chain: UpstreamChain;
  auth: Authenticator;
  store: SpoolStore;
  relay: StreamRelay;
  heartbeats: HeartbeatScheduler;
  log: Logger;
  metrics: GatewayMetrics;
  /** The exact-match cache of non-streamed completions, when enabled. */
  cache: CompletionCache | undefined;
  /** Set when SIGTERM (or `close`) started: new work is refused with 503. */
  draining: boolean;
}

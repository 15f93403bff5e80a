import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Authenticator } from './auth.js';
import type { CompletionCache } from './cache/completion-cache.js';
import type { GatewayConfig } from './config/schema.js';
import type { DownstreamWrapper } from './handlers/downstream.js';
import type { BodyBudget } from './http/body-budget.js';
import type { RateLimiter } from './limits/rate-limiter.js';
import type { GatewayMetrics } from './metrics.js';
import type { HeartbeatScheduler } from './relay/sse-writer.js';
import type { StreamRelay } from './relay/stream-relay.js';
import type { ModelRouter } from './routing.js';
import type { SpoolStore } from './spool/store.js';
import type { UpstreamChain } from './upstream/upstream-chain.js';
import type { UsageLedger } from './usage/usage-record.js';

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
  /** Per-key rate limits (memory, or Redis shared by every instance). */
  limiter: RateLimiter;
  /** Durable usage records. */
  ledger: UsageLedger;
  /** The exact-match cache of non-streamed completions, when enabled. */
  cache: CompletionCache | undefined;
  /** What request bodies being received hold: bytes in all, uploads per key. */
  bodies: BodyBudget;
  /** The client connections reading streams now (aborting one ends it cleanly). */
  readers: Set<{ abort(): void }>;
  /**
   * Chooses what the client's connection of a stream a request started is served through: fault
   * injection (`faults/downstream-faults.ts`), installed only in dev mode or with
   * `server.faultInjection`; `undefined` otherwise, and then nothing wraps a connection.
   */
  wrapStartedStream: ((request: IncomingMessage) => DownstreamWrapper | undefined) | undefined;
  /** Set when SIGTERM (or `close`) started: new work is refused with 503. */
  draining: boolean;
}

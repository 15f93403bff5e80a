import { errorBody } from '@spool/protocol';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import { formatResetDuration, MINUTE_MS, retryAfterSeconds, type WindowDecision } from './rate-window.js';

/** The limits of one API key; a limit left out is not enforced (and gets no headers). */
export interface KeyLimits {
  /** Requests admitted in any 60 s. */
  requestsPerMinute?: number | undefined;
  /** Tokens (prompt + completion; estimated at admission, reconciled at the end) in any 60 s. */
  tokensPerMinute?: number | undefined;
  /** Requests in flight at once (streamed or not). */
  concurrentStreams?: number | undefined;
}

/** What {@link RateLimiter.acquire} needs to know about one request. */
export interface AcquireRequest {
  /** A stable id of the API key (its configured name or hash; never the key itself). */
  keyId: string;
  limits: KeyLimits;
  /** Tokens to reserve now; see `estimateRequestTokens`. */
  estimatedTokens: number;
  /**
   * The clock, epoch ms. Leave it out in production: the memory limiter then uses `Date.now()` and
   * the Redis limiter Redis's own `TIME`, one clock for every instance. Tests pass it.
   */
  now?: number | undefined;
}

/** Which limit refused a request. */
type RateLimitReason = 'requests' | 'tokens' | 'concurrency';

/** OpenAI's `x-ratelimit-*` headers, lower-case names, only for the limits that are configured. */
export type RateLimitHeaders = Record<string, string>;

/** A request's hold on its key's limits, from admission to its end. */
export interface RateLimitLease {
  readonly id: string;
  /**
   * Charges the request's real token count instead of its estimate (a refund when lower). Call it
   * once, when the upstream's usage is known. When the reservation already left the window (a
   * stream longer than a minute), an overrun is charged as a new entry at `now`. Never rejects: a
   * store failure is logged.
   */
  reconcile(actualTokens: number, now?: number): Promise<void>;
  /** Frees the concurrency slot. Idempotent; never rejects (an unreleased slot expires). */
  release(): Promise<void>;
}

/** The answer of {@link RateLimiter.acquire}. */
export type AcquireResult =
  | { allowed: true; lease: RateLimitLease; headers: RateLimitHeaders }
  | { allowed: false; reason: RateLimitReason; retryAfterSeconds: number; headers: RateLimitHeaders };

/** Per-key rate limits: requests per minute, tokens per minute, concurrent streams. */
export interface RateLimiter {
  /** `memory` or `redis`, for logs and metrics. */
  readonly kind: string;
  /**
   * Admits a request atomically against all of its key's limits, or says which one refused it.
   * Throws {@link RateLimitStoreUnavailableError} when the store is down and `failMode` is `closed`.
   */
  acquire(request: AcquireRequest): Promise<AcquireResult>;
  /** The headers of a key's current state, charging nothing (for responses that were not limited). */
  peek(request: Omit<AcquireRequest, 'estimatedTokens'>): Promise<RateLimitHeaders>;
  /** Extends every lease this instance holds (the heartbeat calls it; tests call it with `now`). */
  refreshLeases(now?: number): Promise<void>;
  /** Stops the heartbeat and closes connections. Leases not released expire on their own. */
  close(): Promise<void>;
}

/** Options shared by both limiters. */
export interface RateLimiterOptions {
  /**
   * What to do when the store cannot answer: `closed` refuses with
   * {@link RateLimitStoreUnavailableError} (503), `open` admits without limits and logs.
   * @default 'closed'
   */
  failMode?: 'closed' | 'open';
  /** How long a concurrency slot outlives its last heartbeat (a crashed instance's slots come back). @default 30000 */
  leaseTtlMs?: number;
  /** How often held leases are extended; 0 turns the heartbeat off. @default 10000 */
  leaseHeartbeatMs?: number;
  log?: Logger | undefined;
}

/** Options of the Redis limiter. */
export interface RedisRateLimiterOptions extends RateLimiterOptions {
  /** `redis://host:port/db`. */
  url: string;
  /** Prefix of every key. @default 'spool:rl:' */
  keyPrefix?: string;
  /** Longest a call to Redis may take before the store counts as unavailable (per call). @default 500 */
  commandTimeoutMs?: number;
  /** Longest the first connection may take (when the limiter opens its own). @default 2000 */
  connectTimeoutMs?: number;
  /** Connections to share (the gateway's); by default the limiter opens its own. */
  connections?: RedisConnections | undefined;
}

/** Every default of the limiters, in one place. */
export const RATE_LIMITER_DEFAULTS = {
  failMode: 'closed',
  leaseTtlMs: 30_000,
  leaseHeartbeatMs: 10_000,
  keyPrefix: 'spool:rl:',
  commandTimeoutMs: 500,
  connectTimeoutMs: 2000,
  windowMs: MINUTE_MS,
  /** `Retry-After` for a concurrency refusal: slots free when streams end, which nobody can predict. */
  concurrencyRetryAfterMs: 1000,
} as const;

/** Fills in the defaults of the shared options. */
export function normalizeRateLimiterOptions(
  options: RateLimiterOptions,
): Required<Omit<RateLimiterOptions, 'log'>> & { log: Logger | undefined } {
  return {
    failMode: options.failMode ?? RATE_LIMITER_DEFAULTS.failMode,
    leaseTtlMs: options.leaseTtlMs ?? RATE_LIMITER_DEFAULTS.leaseTtlMs,
    leaseHeartbeatMs: options.leaseHeartbeatMs ?? RATE_LIMITER_DEFAULTS.leaseHeartbeatMs,
    log: options.log,
  };
}

/**
 * The rate-limit store (Redis) could not answer in time. A 503 with `code: 'store_unavailable'`,
 * retryable; raised only in `failMode: 'closed'`.
 */
export class RateLimitStoreUnavailableError extends GatewayError {
  readonly retryable = true;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(503, errorBody('store_unavailable', message), { retryAfterSeconds: 1, cause: options.cause });
    this.name = 'RateLimitStoreUnavailableError';
  }
}

/** One window's state for the headers. */
export interface WindowSnapshot {
  limit: number;
  remaining: number;
  resetMs: number;
}

/** Builds OpenAI's `x-ratelimit-*` headers from the windows that are configured. */
export function rateLimitHeaders(windows: {
  requests?: WindowSnapshot | undefined;
  tokens?: WindowSnapshot | undefined;
}): RateLimitHeaders {
  const headers: RateLimitHeaders = {};
  for (const [name, window] of [
    ['requests', windows.requests],
    ['tokens', windows.tokens],
  ] as const) {
    if (window === undefined) continue;
    headers[`x-ratelimit-limit-${name}`] = String(window.limit);
    headers[`x-ratelimit-remaining-${name}`] = String(Math.max(0, Math.floor(window.remaining)));
    headers[`x-ratelimit-reset-${name}`] = formatResetDuration(window.resetMs);
  }
  return headers;
}

/**
 * The 429 for a refusal, in OpenAI's shape with the code of the limit that refused and
 * `Retry-After`; send it with the result's `headers`.
 */
export function rateLimitError(result: Extract<AcquireResult, { allowed: false }>): GatewayError {
  const messages = {
    requests: ['rate_limit_exceeded', 'Rate limit reached for requests per minute'],
    tokens: ['tokens_limit_exceeded', 'Rate limit reached for tokens per minute'],
    concurrency: ['concurrency_limit_exceeded', 'Too many concurrent requests for this key'],
  } as const;
  const [code, text] = messages[result.reason];
  return GatewayError.of(code, `${text}. Retry after ${result.retryAfterSeconds} s.`, {
    retryAfterSeconds: result.retryAfterSeconds,
    headers: result.headers,
  });
}

/** The decision of each configured limit for one request. */
export interface LimitDecisions {
  requests?: (WindowDecision & { limit: number }) | undefined;
  tokens?: (WindowDecision & { limit: number }) | undefined;
  concurrency?: { allowed: boolean } | undefined;
}

/**
 * Folds the per-limit decisions into {@link AcquireResult}: the first refusing limit in the order
 * requests, tokens, concurrency names the reason; `Retry-After` is the longest wait among them.
 */
export function combineDecisions(decisions: LimitDecisions, lease: () => RateLimitLease): AcquireResult {
  const headers = rateLimitHeaders(decisions);
  const refused: Array<[RateLimitReason, number]> = [];
  if (decisions.requests && !decisions.requests.allowed)
    refused.push(['requests', decisions.requests.retryAfterMs]);
  if (decisions.tokens && !decisions.tokens.allowed) refused.push(['tokens', decisions.tokens.retryAfterMs]);
  if (decisions.concurrency && !decisions.concurrency.allowed) {
    refused.push(['concurrency', RATE_LIMITER_DEFAULTS.concurrencyRetryAfterMs]);
  }
  const first = refused[0];
  if (first === undefined) return { allowed: true, lease: lease(), headers };
  const longest = Math.max(...refused.map(([, waitMs]) => waitMs));
  return { allowed: false, reason: first[0], retryAfterSeconds: retryAfterSeconds(longest), headers };
}

/** A lease that holds nothing (fail-open admissions, and keys with no limits). */
export const NO_LEASE: RateLimitLease = {
  id: 'none',
  reconcile: async () => {},
  release: async () => {},
};

/** True when a limit is configured (a positive number). */
export function isConfigured(limit: number | undefined): limit is number {
  return limit !== undefined && limit > 0;
}

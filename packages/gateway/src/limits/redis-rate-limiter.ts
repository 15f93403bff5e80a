import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { withDeadline } from '../redis/command-deadline.js';
import { RedisConnections, type RedisLease } from '../redis/redis-connections.js';
import {
  type AcquireRequest,
  type AcquireResult,
  combineDecisions,
  isConfigured,
  type KeyLimits,
  type LimitDecisions,
  NO_LEASE,
  normalizeRateLimiterOptions,
  RATE_LIMITER_DEFAULTS,
  type RateLimiter,
  type RateLimitHeaders,
  type RateLimitLease,
  RateLimitStoreUnavailableError,
  type RedisRateLimiterOptions,
  rateLimitHeaders,
} from './rate-limiter.js';
import type { WindowDecision } from './rate-window.js';
import { ACQUIRE_SCRIPT, luaScript, RECONCILE_SCRIPT, REFRESH_SCRIPT, runScript } from './redis-scripts.js';

const WINDOW_MS = RATE_LIMITER_DEFAULTS.windowMs;
const ACQUIRE = luaScript(ACQUIRE_SCRIPT);
const RECONCILE = luaScript(RECONCILE_SCRIPT);
const REFRESH = luaScript(REFRESH_SCRIPT);
/** Fail-open admissions are logged at most this often, so an outage does not flood the log. */
const FAIL_OPEN_LOG_INTERVAL_MS = 10_000;

interface KeyNames {
  requests: string;
  tokens: string;
  tokenCosts: string;
  concurrency: string;
}

/**
 * Rate limits shared by every gateway instance through one Redis: each decision is one atomic
 * Lua script, so N instances enforce one limit, not N. Concurrency slots are leases scored by
 * expiry and extended by a heartbeat, so a crashed instance's slots come back after `leaseTtlMs`.
 *
 * Each call has a deadline (`commandTimeoutMs`, enforced per call: the connection may be shared with
 * users that allow their commands longer), and nothing is queued while disconnected; then
 * `failMode: 'closed'` throws {@link RateLimitStoreUnavailableError} and `'open'` admits and logs.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly kind = 'redis';
  readonly #connection: RedisLease;
  readonly #redis: Redis;
  readonly #commandTimeoutMs: number;
  readonly #prefix: string;
  readonly #options: ReturnType<typeof normalizeRateLimiterOptions>;
  /** Leases this instance holds: lease id → key id. */
  readonly #held = new Map<string, string>();
  readonly #heartbeat: NodeJS.Timeout | undefined;
  #lastFailOpenLogAt = Number.NEGATIVE_INFINITY;

  private constructor(lease: RedisLease, options: RedisRateLimiterOptions) {
    this.#connection = lease;
    this.#redis = lease.redis;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? RATE_LIMITER_DEFAULTS.commandTimeoutMs;
    this.#prefix = options.keyPrefix ?? RATE_LIMITER_DEFAULTS.keyPrefix;
    this.#options = normalizeRateLimiterOptions(options);
    if (this.#options.leaseHeartbeatMs > 0) {
      this.#heartbeat = setInterval(() => void this.refreshLeases(), this.#options.leaseHeartbeatMs);
      this.#heartbeat.unref();
    }
  }

  /**
   * Connects to Redis (on the shared command connection of `options.connections`, else on one of
   * its own). With `failMode: 'closed'` an unreachable Redis fails here; with `'open'` the limiter
   * starts anyway and keeps reconnecting in the background.
   */
  static async connect(options: RedisRateLimiterOptions): Promise<RedisRateLimiter> {
    const connections =
      options.connections ??
      new RedisConnections({
        commandTimeoutMs: options.commandTimeoutMs ?? RATE_LIMITER_DEFAULTS.commandTimeoutMs,
        connectTimeoutMs: options.connectTimeoutMs ?? RATE_LIMITER_DEFAULTS.connectTimeoutMs,
        onError: (error) => options.log?.debug({ err: error }, 'rate-limit redis error'),
      });
    const lease = connections.commands(options.url);
    try {
      await lease.ready();
    } catch (error) {
      if ((options.failMode ?? RATE_LIMITER_DEFAULTS.failMode) === 'closed') {
        await lease.release();
        throw new RateLimitStoreUnavailableError(
          `Cannot connect to the rate-limit Redis: ${(error as Error).message}`,
          { cause: error },
        );
      }
      options.log?.warn({ err: error }, 'rate-limit redis unreachable at start; failing open');
    }
    return new RedisRateLimiter(lease, options);
  }

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    const { limits } = request;
    if (!hasLimits(limits)) return { allowed: true, lease: NO_LEASE, headers: {} };
    const id = randomUUID();
    const estimated = Math.max(0, Math.round(request.estimatedTokens));
    const reply = await this.#guard(() =>
      this.#decide(request.keyId, limits, estimated, id, true, request.now),
    );
    if (reply === undefined) return { allowed: true, lease: NO_LEASE, headers: {} };
    return combineDecisions(reply.decisions, () => {
      if (isConfigured(limits.concurrentStreams)) this.#held.set(id, request.keyId);
      return this.#lease(request.keyId, id, isConfigured(limits.tokensPerMinute) ? estimated : undefined);
    });
  }

  async peek(request: Omit<AcquireRequest, 'estimatedTokens'>): Promise<RateLimitHeaders> {
    if (!hasLimits(request.limits)) return {};
    const reply = await this.#guard(() =>
      this.#decide(request.keyId, request.limits, 0, 'peek', false, request.now),
    );
    return reply === undefined ? {} : rateLimitHeaders(reply.decisions);
  }

  async refreshLeases(now?: number): Promise<void> {
    const held = [...this.#held];
    const results = await Promise.allSettled(
      held.map(([leaseId, keyId]) =>
        this.#call(() =>
          runScript(
            this.#redis,
            REFRESH,
            [this.#keys(keyId).concurrency],
            [now ?? '', this.#options.leaseTtlMs, leaseId],
          ),
        ),
      ),
    );
    results.forEach((result, index) => {
      const leaseId = (held[index] as [string, string])[0];
      if (result.status === 'fulfilled' && result.value === 0) this.#held.delete(leaseId);
      if (result.status === 'rejected') {
        this.#options.log?.warn({ err: result.reason }, 'could not extend a rate-limit lease');
      }
    });
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    await this.#connection.release();
  }

  /** Runs a call to Redis within the limiter's deadline. */
  #call<T>(operation: () => Promise<T>): Promise<T> {
    return withDeadline(operation(), this.#commandTimeoutMs);
  }

  /** Runs a store call; on failure refuses (closed) or returns undefined to admit (open). */
  async #guard<T>(operation: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.#call(operation);
    } catch (error) {
      if (this.#options.failMode === 'closed') {
        throw new RateLimitStoreUnavailableError(
          `The rate-limit store (Redis) is unavailable: ${(error as Error).message}. Retry shortly.`,
          { cause: error },
        );
      }
      const now = Date.now();
      if (now - this.#lastFailOpenLogAt >= FAIL_OPEN_LOG_INTERVAL_MS) {
        this.#lastFailOpenLogAt = now;
        this.#options.log?.warn({ err: error }, 'rate-limit store unavailable; admitting without limits');
      }
      return undefined;
    }
  }

  async #decide(
    keyId: string,
    limits: KeyLimits,
    cost: number,
    leaseId: string,
    commit: boolean,
    now: number | undefined,
  ): Promise<{ decisions: LimitDecisions }> {
    const keys = this.#keys(keyId);
    const requestLimit = isConfigured(limits.requestsPerMinute) ? limits.requestsPerMinute : 0;
    const tokenLimit = isConfigured(limits.tokensPerMinute) ? limits.tokensPerMinute : 0;
    const concurrencyLimit = isConfigured(limits.concurrentStreams) ? limits.concurrentStreams : 0;
    const reply = (await runScript(
      this.#redis,
      ACQUIRE,
      [keys.requests, keys.tokens, keys.tokenCosts, keys.concurrency],
      [
        now ?? '',
        WINDOW_MS,
        requestLimit,
        tokenLimit,
        cost,
        concurrencyLimit,
        leaseId,
        this.#options.leaseTtlMs,
        commit ? '1' : '0',
      ],
    )) as number[];
    const [, at, requestsUsed, requestsNewest, requestsRetry, tokensUsed, tokensNewest, tokensRetry] =
      reply.map(Number) as [number, number, number, number, number, number, number, number, number];
    const concurrencyAllowed = Number(reply[8]) === 1;
    const window = (
      limit: number,
      used: number,
      newest: number,
      retryMs: number,
    ): WindowDecision & {
      limit: number;
    } => ({
      limit,
      allowed: retryMs === 0,
      remaining: Math.max(0, limit - used),
      resetMs: newest < 0 ? 0 : Math.max(0, newest + WINDOW_MS - at),
      retryAfterMs: retryMs === 0 ? 0 : Math.max(1, retryMs),
    });
    return {
      decisions: {
        requests:
          requestLimit > 0 ? window(requestLimit, requestsUsed, requestsNewest, requestsRetry) : undefined,
        tokens: tokenLimit > 0 ? window(tokenLimit, tokensUsed, tokensNewest, tokensRetry) : undefined,
        concurrency: concurrencyLimit > 0 ? { allowed: concurrencyAllowed } : undefined,
      },
    };
  }

  #keys(keyId: string): KeyNames {
    // One hash tag per API key: every key a script touches lives in the same Redis Cluster slot.
    const base = `${this.#prefix}{${keyId}}`;
    return {
      requests: `${base}:req`,
      tokens: `${base}:tok`,
      tokenCosts: `${base}:tokc`,
      concurrency: `${base}:conc`,
    };
  }

  #lease(keyId: string, id: string, estimated: number | undefined): RateLimitLease {
    let released = false;
    const keys = this.#keys(keyId);
    return {
      id,
      reconcile: async (actualTokens, now) => {
        if (estimated === undefined) return;
        await this.#quietly('reconcile', () =>
          runScript(
            this.#redis,
            RECONCILE,
            [keys.tokens, keys.tokenCosts],
            [id, Math.max(0, Math.round(actualTokens)), estimated, now ?? '', WINDOW_MS],
          ),
        );
      },
      release: async () => {
        if (released) return;
        released = true;
        if (!this.#held.delete(id)) return;
        await this.#quietly('release', () => this.#redis.zrem(keys.concurrency, id));
      },
    };
  }

  /** Lease operations never throw: what they could not do expires with the window or the lease. */
  async #quietly(action: string, operation: () => Promise<unknown>): Promise<void> {
    try {
      await this.#call(operation);
    } catch (error) {
      this.#options.log?.warn({ err: error }, `could not ${action} a rate-limit lease`);
    }
  }
}

function hasLimits(limits: KeyLimits): boolean {
  return (
    isConfigured(limits.requestsPerMinute) ||
    isConfigured(limits.tokensPerMinute) ||
    isConfigured(limits.concurrentStreams)
  );
}

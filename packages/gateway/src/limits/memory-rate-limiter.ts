import { randomUUID } from 'node:crypto';
import {
  type AcquireRequest,
  type AcquireResult,
  combineDecisions,
  isConfigured,
  type LimitDecisions,
  NO_LEASE,
  normalizeRateLimiterOptions,
  RATE_LIMITER_DEFAULTS,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitHeaders,
  type RateLimitLease,
  rateLimitHeaders,
} from './rate-limiter.js';
import {
  admitEntry,
  decideWindow,
  pruneWindow,
  setEntryCost,
  type WindowEntry,
  type WindowState,
} from './rate-window.js';

interface KeyState {
  requests: WindowState;
  tokens: WindowState;
  /** Lease id → expiry (epoch ms). */
  leases: Map<string, number>;
}

const WINDOW_MS = RATE_LIMITER_DEFAULTS.windowMs;

/**
 * Rate limits of one gateway instance, in process memory (the default). The arithmetic is the
 * pure sliding-window log of `rate-window.ts`; this class only keeps the state per key.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly kind = 'memory';
  readonly #options: ReturnType<typeof normalizeRateLimiterOptions>;
  readonly #keys = new Map<string, KeyState>();
  /** Leases not yet released: lease id → key id. */
  readonly #held = new Map<string, string>();
  readonly #heartbeat: NodeJS.Timeout | undefined;

  constructor(options: RateLimiterOptions = {}) {
    this.#options = normalizeRateLimiterOptions(options);
    if (this.#options.leaseHeartbeatMs > 0) {
      this.#heartbeat = setInterval(() => void this.refreshLeases(), this.#options.leaseHeartbeatMs);
      this.#heartbeat.unref();
    }
  }

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    const now = request.now ?? Date.now();
    const { limits } = request;
    const state = this.#state(request.keyId, now);
    const estimated = Math.max(0, Math.round(request.estimatedTokens));
    const decisions: LimitDecisions = {};
    if (isConfigured(limits.requestsPerMinute)) {
      const limit = limits.requestsPerMinute;
      decisions.requests = { ...decideWindow(state.requests, now, 1, limit, WINDOW_MS), limit };
    }
    if (isConfigured(limits.tokensPerMinute)) {
      const limit = limits.tokensPerMinute;
      decisions.tokens = { ...decideWindow(state.tokens, now, estimated, limit, WINDOW_MS), limit };
    }
    if (isConfigured(limits.concurrentStreams)) {
      decisions.concurrency = { allowed: state.leases.size < limits.concurrentStreams };
    }
    const refused = [decisions.requests, decisions.tokens, decisions.concurrency].some(
      (decision) => decision !== undefined && !decision.allowed,
    );
    if (refused) {
      // A refusal charges nothing: report every window as it stands, like the Redis script does.
      for (const [name, window] of [
        ['requests', state.requests],
        ['tokens', state.tokens],
      ] as const) {
        const decision = decisions[name];
        if (decision === undefined) continue;
        const { remaining, resetMs } = decideWindow(window, now, 0, decision.limit, WINDOW_MS);
        decisions[name] = { ...decision, remaining, resetMs };
      }
    }
    return combineDecisions(decisions, () => {
      if (!decisions.requests && !decisions.tokens && !decisions.concurrency) return NO_LEASE;
      const id = randomUUID();
      if (decisions.requests) state.requests = admitEntry(state.requests, { id, at: now, cost: 1 });
      if (decisions.tokens) state.tokens = admitEntry(state.tokens, { id, at: now, cost: estimated });
      if (decisions.concurrency) {
        state.leases.set(id, now + this.#options.leaseTtlMs);
        this.#held.set(id, request.keyId);
      }
      return this.#lease(request.keyId, id, decisions.tokens ? estimated : undefined);
    });
  }

  async peek(request: Omit<AcquireRequest, 'estimatedTokens'>): Promise<RateLimitHeaders> {
    const now = request.now ?? Date.now();
    const state = this.#state(request.keyId, now);
    const { requestsPerMinute, tokensPerMinute } = request.limits;
    return rateLimitHeaders({
      requests: isConfigured(requestsPerMinute)
        ? { ...decideWindow(state.requests, now, 0, requestsPerMinute, WINDOW_MS), limit: requestsPerMinute }
        : undefined,
      tokens: isConfigured(tokensPerMinute)
        ? { ...decideWindow(state.tokens, now, 0, tokensPerMinute, WINDOW_MS), limit: tokensPerMinute }
        : undefined,
    });
  }

  async refreshLeases(now = Date.now()): Promise<void> {
    for (const [leaseId, keyId] of this.#held) {
      const leases = this.#keys.get(keyId)?.leases;
      if (leases?.has(leaseId)) leases.set(leaseId, now + this.#options.leaseTtlMs);
      else this.#held.delete(leaseId);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
  }

  /** The key's state, pruned at `now` (expired entries and leases dropped). */
  #state(keyId: string, now: number): KeyState {
    let state = this.#keys.get(keyId);
    if (state === undefined) {
      state = { requests: [], tokens: [], leases: new Map() };
      this.#keys.set(keyId, state);
    }
    state.requests = pruneWindow(state.requests, now, WINDOW_MS);
    state.tokens = pruneWindow(state.tokens, now, WINDOW_MS);
    for (const [leaseId, expiresAt] of state.leases) {
      if (expiresAt <= now) state.leases.delete(leaseId);
    }
    return state;
  }

  #lease(keyId: string, id: string, estimated: number | undefined): RateLimitLease {
    return {
      id,
      reconcile: async (actualTokens, now = Date.now()) => {
        const state = this.#keys.get(keyId);
        if (state === undefined || estimated === undefined) return;
        const actual = Math.max(0, Math.round(actualTokens));
        state.tokens = pruneWindow(state.tokens, now, WINDOW_MS);
        if (state.tokens.some((entry: WindowEntry) => entry.id === id)) {
          state.tokens = setEntryCost(state.tokens, id, actual);
        } else if (actual > estimated) {
          state.tokens = admitEntry(state.tokens, { id: `${id}+`, at: now, cost: actual - estimated });
        }
      },
      release: async () => {
        this.#keys.get(keyId)?.leases.delete(id);
        this.#held.delete(id);
      },
    };
  }
}

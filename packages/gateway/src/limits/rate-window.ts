/**
 * The rate-limit arithmetic, as pure functions of (window state, now, cost, limit).
 *
 * Algorithm: a **sliding-window log**. Every admitted request leaves an entry `{ id, at, cost }`;
 * a new request of cost `c` is admitted when the costs of the entries younger than the window
 * plus `c` stay within the limit. This is *exact* for "N per minute": in **any** 60 000 ms span at
 * most N units are admitted, and a caller is never refused while fewer than N were admitted in the
 * trailing minute. GCRA / token buckets are cheaper (O(1) state) but are not exact for this
 * contract: a bucket of N that refills N per minute admits N at once and then keeps refilling,
 * so a rolling minute can see up to 2N − 1; shrinking the burst to fix that refuses legitimate
 * bursts. The log costs one entry per admitted request per minute, which is bounded by the
 * requests-per-minute a key may make anyway.
 *
 * The same arithmetic runs in Redis as Lua (see `redis-scripts.ts`); the contract tests run one
 * suite over both.
 */

/** One admitted request in a window. */
export interface WindowEntry {
  /** The lease id that admitted it (for reconciliation). */
  readonly id: string;
  /** When it was admitted (epoch ms). */
  readonly at: number;
  /** Units charged: 1 for requests, the token estimate (then the actual) for tokens. */
  readonly cost: number;
}

/** A window's entries, oldest first. */
export type WindowState = readonly WindowEntry[];

/** What a window answers for one request. */
export interface WindowDecision {
  allowed: boolean;
  /** Units left in the window after this decision (after charging `cost` when allowed). */
  remaining: number;
  /**
   * Milliseconds until the window is back to its full limit (OpenAI's `x-ratelimit-reset-*`:
   * "the time until the rate limit resets to its initial state").
   */
  resetMs: number;
  /** Milliseconds until a request of this cost would be admitted; 0 when allowed. */
  retryAfterMs: number;
}

/** The length of every window. */
export const MINUTE_MS = 60_000;

/** Drops the entries that left the window at `now` (`at <= now - windowMs`). */
export function pruneWindow(state: WindowState, now: number, windowMs = MINUTE_MS): WindowState {
  const cutoff = now - windowMs;
  let first = 0;
  while (first < state.length && (state[first] as WindowEntry).at <= cutoff) first++;
  return first === 0 ? state : state.slice(first);
}

/** Sum of the costs inside the window (the state must be pruned). */
function usedUnits(state: WindowState): number {
  let used = 0;
  for (const entry of state) used += entry.cost;
  return used;
}

/**
 * Decides whether `cost` fits under `limit` at `now`. A cost above the whole limit (a token
 * estimate larger than the tokens-per-minute limit) is admitted only into an empty window, so an
 * overestimate never makes a request impossible forever; it is still charged in full.
 */
export function decideWindow(
  state: WindowState,
  now: number,
  cost: number,
  limit: number,
  windowMs = MINUTE_MS,
): WindowDecision {
  const live = pruneWindow(state, now, windowMs);
  const used = usedUnits(live);
  const needed = Math.min(cost, limit);
  const allowed = used + needed <= limit;
  const newest = live.length > 0 ? (live[live.length - 1] as WindowEntry).at : undefined;
  if (allowed) {
    const charged = used + cost;
    const resetMs = charged > 0 ? (cost > 0 ? windowMs : (newest as number) + windowMs - now) : 0;
    return { allowed, remaining: Math.max(0, limit - charged), resetMs, retryAfterMs: 0 };
  }
  // Walk from the oldest entry: the request fits once enough of them have left the window.
  let freed = 0;
  let retryAfterMs = windowMs;
  for (const entry of live) {
    freed += entry.cost;
    if (used - freed + needed <= limit) {
      retryAfterMs = entry.at + windowMs - now;
      break;
    }
  }
  return {
    allowed,
    remaining: Math.max(0, limit - used),
    resetMs: newest === undefined ? 0 : newest + windowMs - now,
    retryAfterMs: Math.max(1, retryAfterMs),
  };
}

/** Returns the state with an entry admitted at `now` (entries stay ordered by `at`). */
export function admitEntry(state: WindowState, entry: WindowEntry): WindowState {
  const last = state[state.length - 1];
  if (last === undefined || last.at <= entry.at) return [...state, entry];
  const index = state.findIndex((existing) => existing.at > entry.at);
  return [...state.slice(0, index), entry, ...state.slice(index)];
}

/**
 * Sets the cost of the entry a lease admitted (reconciling an estimate with the actual usage).
 * An entry that already left the window is not charged again.
 */
export function setEntryCost(state: WindowState, id: string, cost: number): WindowState {
  const index = state.findIndex((entry) => entry.id === id);
  if (index === -1) return state;
  const next = [...state];
  next[index] = { ...(state[index] as WindowEntry), cost: Math.max(0, cost) };
  return next;
}

/**
 * Formats milliseconds the way OpenAI's `x-ratelimit-reset-*` headers do (Go's duration format at
 * millisecond precision): `0s`, `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3.004s`.
 */
export function formatResetDuration(milliseconds: number): string {
  const ms = Math.max(0, Math.ceil(milliseconds));
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const secondsMs = ms % 60_000;
  const whole = Math.floor(secondsMs / 1000);
  const fraction = secondsMs % 1000;
  const seconds =
    fraction === 0 ? `${whole}` : `${whole}.${String(fraction).padStart(3, '0').replace(/0+$/, '')}`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** Whole seconds for `Retry-After` (at least 1, so a client never retries in a tight loop). */
export function retryAfterSeconds(milliseconds: number): number {
  return Math.max(1, Math.ceil(milliseconds / 1000));
}

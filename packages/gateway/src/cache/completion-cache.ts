import { createHash } from 'node:crypto';
import { withDeadline } from '../redis/command-deadline.js';
import { RedisConnections, type RedisLease } from '../redis/redis-connections.js';

/** An exact-match cache of non-streamed completions. */
export interface CompletionCache {
  get(key: string): Promise<unknown | undefined>;
  set(key: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

/** The cache key of a request: the caller and the exact body bytes (callers never share entries). */
export function completionCacheKey(ownerId: string, body: Buffer): string {
  return createHash('sha256').update(ownerId).update('\u0000').update(body).digest('hex');
}

/** An LRU of completions in this process, each kept for `ttlMs`. */
export class MemoryCompletionCache implements CompletionCache {
  readonly #entries = new Map<string, { value: unknown; expiresAt: number }>();
  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: string): Promise<unknown | undefined> {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  async set(key: string, value: unknown): Promise<void> {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}

/** The defaults of {@link RedisCompletionCacheOptions}. */
const REDIS_CACHE_DEFAULTS = { commandTimeoutMs: 500 } as const;

/** Options of {@link RedisCompletionCache}; their defaults are {@link REDIS_CACHE_DEFAULTS}. */
export interface RedisCompletionCacheOptions {
  /** `redis://host:port/db`. */
  url: string;
  /** Prefix of every key (entries are `<prefix>cache:<key>`). */
  keyPrefix: string;
  /** How long an entry is served. */
  ttlMs: number;
  /** Longest a lookup or a store may take before it counts as a miss (per call). @default 500 */
  commandTimeoutMs?: number;
  /** Connections to share (the gateway's); by default the cache opens its own. */
  connections?: RedisConnections | undefined;
}

/** Completions in Redis, shared by every instance; a Redis failure is a miss, never an error. */
export class RedisCompletionCache implements CompletionCache {
  readonly #lease: RedisLease;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #commandTimeoutMs: number;

  constructor(options: RedisCompletionCacheOptions) {
    this.#commandTimeoutMs = options.commandTimeoutMs ?? REDIS_CACHE_DEFAULTS.commandTimeoutMs;
    const connections =
      options.connections ?? new RedisConnections({ commandTimeoutMs: this.#commandTimeoutMs });
    // A cache that cannot connect is a miss; it keeps reconnecting in the background.
    this.#lease = connections.commands(options.url);
    this.#prefix = options.keyPrefix;
    this.#ttlMs = options.ttlMs;
  }

  async get(key: string): Promise<unknown | undefined> {
    try {
      const text = await withDeadline(
        this.#lease.redis.get(`${this.#prefix}cache:${key}`),
        this.#commandTimeoutMs,
      );
      return text === null ? undefined : JSON.parse(text);
    } catch {
      return undefined;
    }
  }

  async set(key: string, value: unknown): Promise<void> {
    await withDeadline(
      this.#lease.redis.set(`${this.#prefix}cache:${key}`, JSON.stringify(value), 'PX', this.#ttlMs),
      this.#commandTimeoutMs,
    ).catch(() => {});
  }

  async close(): Promise<void> {
    await this.#lease.release();
  }
}

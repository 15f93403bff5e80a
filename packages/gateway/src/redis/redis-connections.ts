import type { Redis } from 'ioredis';
import { closeRedisConnection, createRedisConnection } from './redis-connection.js';

/** What a connection is for: plain commands (shared), or a pub/sub subscriber (one of its own). */
export type RedisPurpose = 'commands' | 'subscriber';

/** Options of {@link RedisConnections}; their defaults are {@link REDIS_CONNECTIONS_DEFAULTS}. */
export interface RedisConnectionsOptions {
  /**
   * Longest a command on a shared command connection may take. Suits plain commands; a user that
   * needs a shorter deadline enforces it per call (`withDeadline`). @default 2000
   */
  commandTimeoutMs?: number;
  /** Longest connecting may take. @default 2000 */
  connectTimeoutMs?: number;
  /** Where every connection's errors go, once per error whatever the number of users. */
  onError?: (error: Error, purpose: RedisPurpose) => void;
}

/** The defaults of {@link RedisConnectionsOptions}. */
const REDIS_CONNECTIONS_DEFAULTS = { commandTimeoutMs: 2000, connectTimeoutMs: 2000 } as const;

/** One user's hold on a connection. */
export interface RedisLease {
  /** The connection: shared with other leases (commands), or this lease's own (subscriber). */
  readonly redis: Redis;
  /**
   * Resolves once the connection is up; rejects when its first connect failed and it has not
   * come up since (it keeps reconnecting in the background).
   */
  ready(): Promise<void>;
  /** Gives the lease back; a connection is closed when its last lease is. Idempotent. */
  release(): Promise<void>;
}

interface OpenConnection {
  readonly redis: Redis;
  /** The first connect, started when the connection was opened. */
  readonly connecting: Promise<void>;
  leases: number;
}

/**
 * The gateway's Redis connections: one command connection per URL, shared by every part that
 * sends plain commands (the spool, rate limits, usage, the completion cache), and a connection of
 * its own for each part that needs one (a pub/sub subscriber cannot send commands). A connection
 * opens with its first lease and closes (QUIT, once) with its last. No connection here blocks
 * (no XREAD BLOCK, BLPOP…): a blocking read would stall every command queued behind it, so one
 * would need a connection of its own, as a subscriber has.
 *
 * @example
 * const connections = new RedisConnections();
 * const lease = connections.commands('redis://127.0.0.1:6379');
 * await lease.ready();
 * await lease.redis.ping();
 * await lease.release();
 */
export class RedisConnections {
  readonly #options: Required<Omit<RedisConnectionsOptions, 'onError'>> &
    Pick<RedisConnectionsOptions, 'onError'>;
  readonly #shared = new Map<string, OpenConnection>();

  constructor(options: RedisConnectionsOptions = {}) {
    this.#options = {
      commandTimeoutMs: options.commandTimeoutMs ?? REDIS_CONNECTIONS_DEFAULTS.commandTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? REDIS_CONNECTIONS_DEFAULTS.connectTimeoutMs,
      onError: options.onError,
    };
  }

  /** A lease on the command connection to `url`, shared with every other lease on it. */
  commands(url: string): RedisLease {
    let connection = this.#shared.get(url);
    if (connection === undefined) {
      connection = this.#open(url, 'commands', this.#options.commandTimeoutMs);
      this.#shared.set(url, connection);
    }
    const shared = connection;
    shared.leases++;
    return this.#lease(shared, () => {
      shared.leases--;
      if (shared.leases > 0) return false;
      this.#shared.delete(url);
      return true;
    });
  }

  /** A subscriber's connection to `url`, its own (no command timeout: it only receives). */
  subscriber(url: string): RedisLease {
    return this.#lease(this.#open(url, 'subscriber', undefined), () => true);
  }

  /** Opens a connection for `purpose` and starts connecting it. */
  #open(url: string, purpose: RedisPurpose, commandTimeoutMs: number | undefined): OpenConnection {
    const onError = this.#options.onError;
    const redis = createRedisConnection(url, {
      commandTimeoutMs,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      name: `spool-${purpose}`,
      onError: (error) => onError?.(error, purpose),
    });
    const connecting = redis.connect().then(() => {});
    // Whoever calls `ready()` sees the failure; until then it is not unhandled.
    connecting.catch(() => {});
    return { redis, connecting, leases: 0 };
  }

  #lease(connection: OpenConnection, isLast: () => boolean): RedisLease {
    let released = false;
    return {
      redis: connection.redis,
      ready: () => (connection.redis.status === 'ready' ? Promise.resolve() : connection.connecting),
      release: async () => {
        if (released) return;
        released = true;
        if (isLast()) await closeRedisConnection(connection.redis);
      },
    };
  }
}

import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { withDeadline } from '../redis/command-deadline.js';
import { RedisConnections, type RedisLease } from '../redis/redis-connections.js';
import {
  dayRange,
  normalizeUsageRecord,
  sortTotals,
  type UsageLedger,
  UsageLedgerError,
  type UsageQuery,
  type UsageRecordInput,
  type UsageTotalsRow,
  utcDay,
} from './usage-record.js';

/** Options of the Redis ledger. */
export interface RedisUsageLedgerOptions {
  /** `redis://host:port/db`. */
  url: string;
  /** Prefix of every key. @default 'spool:usage:' */
  keyPrefix?: string;
  /** Longest a call to Redis may take (per call). @default 2000 */
  commandTimeoutMs?: number;
  log?: Logger | undefined;
  /** Connections to share (the gateway's); by default the ledger opens its own. */
  connections?: RedisConnections | undefined;
}

/** The defaults of {@link RedisUsageLedgerOptions}. */
const REDIS_LEDGER_DEFAULTS = { keyPrefix: 'spool:usage:', commandTimeoutMs: 2000 } as const;

const METRICS = ['requests', 'promptTokens', 'completionTokens'] as const;

/**
 * Usage in Redis: every record appended to one Stream (`…log`, the full history, for export),
 * and per-key totals in a hash (`…agg:{keyId}`, fields `day|metric|model`) incremented in the
 * same MULTI, so totals never disagree with the log. Durable as far as the server's persistence
 * goes: run Redis with `appendonly yes` (and `appendfsync always` for no loss at all).
 */
export class RedisUsageLedger implements UsageLedger {
  readonly kind = 'redis';
  readonly #lease: RedisLease;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #commandTimeoutMs: number;
  #closed = false;

  private constructor(lease: RedisLease, options: RedisUsageLedgerOptions) {
    this.#lease = lease;
    this.#redis = lease.redis;
    this.#prefix = options.keyPrefix ?? REDIS_LEDGER_DEFAULTS.keyPrefix;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? REDIS_LEDGER_DEFAULTS.commandTimeoutMs;
  }

  /**
   * Connects (on the shared command connection of `options.connections`, else on one of its own),
   * failing with `store_unavailable` when Redis cannot be reached.
   */
  static async connect(options: RedisUsageLedgerOptions): Promise<RedisUsageLedger> {
    const connections =
      options.connections ??
      new RedisConnections({
        commandTimeoutMs: options.commandTimeoutMs ?? REDIS_LEDGER_DEFAULTS.commandTimeoutMs,
        onError: (error) => options.log?.debug({ err: error }, 'usage redis error'),
      });
    const lease = connections.commands(options.url);
    try {
      await lease.ready();
    } catch (error) {
      await lease.release();
      throw new UsageLedgerError(
        'store_unavailable',
        `cannot connect to the usage Redis: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    return new RedisUsageLedger(lease, options);
  }

  async record(input: UsageRecordInput): Promise<void> {
    if (this.#closed) throw new UsageLedgerError('ledger_closed', 'the usage ledger is closed');
    const record = normalizeUsageRecord(input);
    const day = utcDay(record.at);
    const aggregates = this.#aggregatesKey(record.keyId);
    await this.#run(() =>
      this.#redis
        .multi()
        .xadd(`${this.#prefix}log`, '*', 'record', JSON.stringify(record))
        .hincrby(aggregates, `${day}|requests|${record.model}`, 1)
        .hincrby(aggregates, `${day}|promptTokens|${record.model}`, record.promptTokens)
        .hincrby(aggregates, `${day}|completionTokens|${record.model}`, record.completionTokens)
        .exec(),
    );
  }

  async totals(query: UsageQuery): Promise<UsageTotalsRow[]> {
    const { fromDay, toDay } = dayRange(query);
    const fields = await this.#run(() => this.#redis.hgetall(this.#aggregatesKey(query.keyId)));
    const rows = new Map<string, UsageTotalsRow>();
    for (const [field, value] of Object.entries(fields)) {
      const day = field.slice(0, 10);
      const metricEnd = field.indexOf('|', 11);
      const metric = field.slice(11, metricEnd) as (typeof METRICS)[number];
      const model = field.slice(metricEnd + 1);
      if (day < fromDay || day > toDay || !METRICS.includes(metric)) continue;
      const slot = `${day}\n${model}`;
      let row = rows.get(slot);
      if (row === undefined) {
        row = { day, model, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0 };
        rows.set(slot, row);
      }
      row[metric] += Number(value);
      if (metric !== 'requests') row.totalTokens += Number(value);
    }
    return sortTotals([...rows.values()]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lease.release();
  }

  #aggregatesKey(keyId: string): string {
    return `${this.#prefix}agg:{${keyId}}`;
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      const result = await withDeadline(operation(), this.#commandTimeoutMs);
      // MULTI reports a failed command inside its reply rather than by rejecting.
      if (Array.isArray(result)) {
        for (const entry of result) {
          if (Array.isArray(entry) && entry[0] instanceof Error) throw entry[0];
        }
      }
      return result;
    } catch (error) {
      throw new UsageLedgerError(
        'store_unavailable',
        `the usage Redis is unavailable: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
}

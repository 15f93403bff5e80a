import pg from 'pg';
import type { Logger } from 'pino';
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

/** Options of the PostgreSQL ledger. */
export interface PostgresUsageLedgerOptions {
  /** `postgres://user:password@host:5432/database`. */
  connectionString: string;
  /** The table, created with its index if missing; a plain identifier. @default 'spool_usage' */
  table?: string;
  /** Connections in the pool. @default 4 */
  poolSize?: number;
  /** Longest a connection attempt may take. @default 5000 */
  connectTimeoutMs?: number;
  /** Longest a statement may run (server-side `statement_timeout`). @default 5000 */
  statementTimeoutMs?: number;
  log?: Logger | undefined;
}

/** The defaults of {@link PostgresUsageLedgerOptions}. */
const POSTGRES_LEDGER_DEFAULTS = {
  table: 'spool_usage',
  poolSize: 4,
  connectTimeoutMs: 5000,
  statementTimeoutMs: 5000,
} as const;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Usage in PostgreSQL: one row per record (parameterized inserts; a row is durable once the
 * INSERT returns, under the server's `synchronous_commit`), totals by `GROUP BY day, model`.
 */
export class PostgresUsageLedger implements UsageLedger {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;
  readonly #table: string;
  #closed = false;

  private constructor(pool: pg.Pool, table: string) {
    this.#pool = pool;
    this.#table = table;
  }

  /** Connects and creates the table and its index if they are missing. */
  static async connect(options: PostgresUsageLedgerOptions): Promise<PostgresUsageLedger> {
    const table = options.table ?? POSTGRES_LEDGER_DEFAULTS.table;
    if (!IDENTIFIER.test(table)) {
      throw new UsageLedgerError(
        'invalid_options',
        `usage table name ${JSON.stringify(table)} must be a plain identifier`,
      );
    }
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? POSTGRES_LEDGER_DEFAULTS.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs ?? POSTGRES_LEDGER_DEFAULTS.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs ?? POSTGRES_LEDGER_DEFAULTS.statementTimeoutMs,
    });
    pool.on('error', (error: Error) => options.log?.warn({ err: error }, 'usage postgres connection error'));
    const ledger = new PostgresUsageLedger(pool, `"${table}"`);
    try {
      await pool.query(`CREATE TABLE IF NOT EXISTS ${ledger.#table} (
        id bigserial PRIMARY KEY,
        key_id text NOT NULL,
        model text NOT NULL,
        provider text NOT NULL,
        prompt_tokens bigint NOT NULL,
        completion_tokens bigint NOT NULL,
        ttft_ms integer,
        duration_ms integer NOT NULL,
        outcome text NOT NULL,
        stream_id text,
        request_id text NOT NULL,
        at bigint NOT NULL,
        day date NOT NULL
      )`);
      await pool.query(`CREATE INDEX IF NOT EXISTS "${table}_key_day" ON ${ledger.#table} (key_id, day)`);
    } catch (error) {
      await pool.end().catch(() => {});
      throw new UsageLedgerError(
        'store_unavailable',
        `cannot prepare the usage table ${table}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    return ledger;
  }

  async record(input: UsageRecordInput): Promise<void> {
    if (this.#closed) throw new UsageLedgerError('ledger_closed', 'the usage ledger is closed');
    const record = normalizeUsageRecord(input);
    await this.#run(() =>
      this.#pool.query(
        `INSERT INTO ${this.#table} (key_id, model, provider, prompt_tokens, completion_tokens, ttft_ms,
           duration_ms, outcome, stream_id, request_id, at, day)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          record.keyId,
          record.model,
          record.provider,
          record.promptTokens,
          record.completionTokens,
          record.ttftMs,
          record.durationMs,
          record.outcome,
          record.streamId ?? null,
          record.requestId,
          record.at,
          utcDay(record.at),
        ],
      ),
    );
  }

  async totals(query: UsageQuery): Promise<UsageTotalsRow[]> {
    const { fromDay, toDay } = dayRange(query);
    const result = await this.#run(() =>
      this.#pool.query<{ day: string; model: string; requests: string; prompt: string; completion: string }>(
        `SELECT to_char(day, 'YYYY-MM-DD') AS day, model, count(*) AS requests,
                sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion
           FROM ${this.#table}
          WHERE key_id = $1 AND day BETWEEN $2::date AND $3::date
          GROUP BY day, model`,
        [query.keyId, fromDay, toDay],
      ),
    );
    return sortTotals(
      result.rows.map((row) => ({
        day: row.day,
        model: row.model,
        requests: Number(row.requests),
        promptTokens: Number(row.prompt),
        completionTokens: Number(row.completion),
        totalTokens: Number(row.prompt) + Number(row.completion),
      })),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new UsageLedgerError(
        'store_unavailable',
        `the usage database failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
}

/** How a request ended. `rejected`: refused before any upstream call (rate limit, auth…). */
export type UsageOutcome = 'completed' | 'cancelled' | 'failed' | 'rejected';

/** The usage of one request, recorded when it ends. */
export interface UsageRecord {
  /** A stable id of the API key (its configured name or hash; never the key itself). */
  keyId: string;
  model: string;
  provider: string;
  promptTokens: number;
  completionTokens: number;
  /** Time to first token; `null` when none came. */
  ttftMs: number | null;
  durationMs: number;
  outcome: UsageOutcome;
  streamId?: string | undefined;
  requestId: string;
  /** When the request ended (epoch ms). */
  at: number;
}

/** What a caller passes to `record`: `at` defaults to now, `ttftMs` to `null`. */
export type UsageRecordInput = Omit<UsageRecord, 'at' | 'ttftMs'> & {
  at?: number | undefined;
  ttftMs?: number | null | undefined;
};

/** Which totals to return: one key's, between two UTC days inclusive. */
export interface UsageQuery {
  keyId: string;
  /** First day: `YYYY-MM-DD` (UTC) or epoch ms (its UTC day). @default the beginning */
  from?: string | number | undefined;
  /** Last day, inclusive: `YYYY-MM-DD` (UTC) or epoch ms (its UTC day). @default the end */
  to?: string | number | undefined;
}

/** One row of `GET /v1/usage`: a key's usage of one model on one UTC day. */
export interface UsageTotalsRow {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  model: string;
  /** Records of every outcome, `rejected` included. */
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** A durable record of every request's usage, with per-key totals by day and model. */
export interface UsageLedger {
  /** `file`, `memory`, `redis` or `postgres`. */
  readonly kind: string;
  /** Stores one record; resolves once it is durable (for the file ledger: after its fsync). */
  record(record: UsageRecordInput): Promise<void>;
  /** The key's totals by day and model, sorted by day then model. */
  totals(query: UsageQuery): Promise<UsageTotalsRow[]>;
  /** Waits for pending records, then releases the file or connections. */
  close(): Promise<void>;
}

/** Machine-readable reasons a ledger call failed. */
export type UsageLedgerErrorCode =
  | 'invalid_record'
  | 'invalid_query'
  | 'invalid_options'
  | 'ledger_closed'
  | 'write_failed'
  | 'store_unavailable';

/** A ledger failure, with a `code` and whether trying again may succeed. */
export class UsageLedgerError extends Error {
  readonly code: UsageLedgerErrorCode;
  readonly retryable: boolean;
  constructor(code: UsageLedgerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'UsageLedgerError';
    this.code = code;
    this.retryable = code === 'write_failed' || code === 'store_unavailable';
  }
}

const OUTCOMES: ReadonlySet<string> = new Set(['completed', 'cancelled', 'failed', 'rejected']);
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Checks a record and fills its defaults; throws `invalid_record` naming the bad field. */
export function normalizeUsageRecord(input: UsageRecordInput, now: () => number = Date.now): UsageRecord {
  for (const field of ['keyId', 'model', 'provider', 'requestId'] as const) {
    if (typeof input[field] !== 'string' || input[field] === '') invalid(field, 'a non-empty string');
  }
  for (const field of ['promptTokens', 'completionTokens', 'durationMs'] as const) {
    if (!isCount(input[field])) invalid(field, 'a non-negative integer');
  }
  const ttftMs = input.ttftMs ?? null;
  if (ttftMs !== null && !isCount(ttftMs)) invalid('ttftMs', 'a non-negative integer or null');
  if (!OUTCOMES.has(input.outcome)) invalid('outcome', `one of ${[...OUTCOMES].join(', ')}`);
  const at = input.at ?? now();
  if (!isCount(at)) invalid('at', 'epoch milliseconds');
  const record: UsageRecord = {
    keyId: input.keyId,
    model: input.model,
    provider: input.provider,
    promptTokens: input.promptTokens,
    completionTokens: input.completionTokens,
    ttftMs,
    durationMs: input.durationMs,
    outcome: input.outcome,
    requestId: input.requestId,
    at,
  };
  if (input.streamId !== undefined) record.streamId = input.streamId;
  return record;
}

/** True when a parsed line is a whole record (what a ledger file holds). */
export function isUsageRecord(value: unknown): value is UsageRecord {
  if (typeof value !== 'object' || value === null) return false;
  try {
    normalizeUsageRecord(value as UsageRecordInput, () => Number.NaN);
    return true;
  } catch {
    return false;
  }
}

/** The UTC day of an instant, `YYYY-MM-DD`. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** A query's day bounds, inclusive (`0001-01-01` … `9999-12-31` when open). */
export function dayRange(query: UsageQuery): { fromDay: string; toDay: string } {
  return { fromDay: toDay(query.from, '0001-01-01', 'from'), toDay: toDay(query.to, '9999-12-31', 'to') };
}

/** Sorts rows by day, then model (code-unit order, the same in every store). */
export function sortTotals(rows: UsageTotalsRow[]): UsageTotalsRow[] {
  return rows.sort((a, b) =>
    a.day !== b.day ? (a.day < b.day ? -1 : 1) : a.model < b.model ? -1 : a.model > b.model ? 1 : 0,
  );
}

function toDay(value: string | number | undefined, fallback: string, name: string): string {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isFinite(value)) return utcDay(value);
  if (typeof value === 'string' && DAY.test(value)) return value;
  throw new UsageLedgerError('invalid_query', `\`${name}\` must be YYYY-MM-DD or epoch milliseconds`);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function invalid(field: string, expected: string): never {
  throw new UsageLedgerError('invalid_record', `usage record field \`${field}\` must be ${expected}`);
}

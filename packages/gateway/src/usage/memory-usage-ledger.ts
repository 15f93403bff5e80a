import { UsageAggregates } from './usage-aggregates.js';
import {
  normalizeUsageRecord,
  type UsageLedger,
  UsageLedgerError,
  type UsageQuery,
  type UsageRecord,
  type UsageRecordInput,
  type UsageTotalsRow,
} from './usage-record.js';

/** A ledger that keeps totals in memory only (tests, and `usage.store: 'memory'`): not durable. */
export class MemoryUsageLedger implements UsageLedger {
  readonly kind = 'memory';
  readonly #aggregates = new UsageAggregates();
  readonly #records: UsageRecord[] = [];
  #closed = false;

  async record(input: UsageRecordInput): Promise<void> {
    if (this.#closed) throw new UsageLedgerError('ledger_closed', 'the usage ledger is closed');
    const record = normalizeUsageRecord(input);
    this.#records.push(record);
    this.#aggregates.add(record);
  }

  async totals(query: UsageQuery): Promise<UsageTotalsRow[]> {
    return this.#aggregates.totals(query);
  }

  /** Every record so far, oldest first (for tests). */
  records(): readonly UsageRecord[] {
    return this.#records;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

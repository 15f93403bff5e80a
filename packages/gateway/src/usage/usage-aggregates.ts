import {
  dayRange,
  sortTotals,
  type UsageQuery,
  type UsageRecord,
  type UsageTotalsRow,
  utcDay,
} from './usage-record.js';

/**
 * In-memory totals per key, day and model: what the file and memory ledgers answer `totals` from.
 * Pure: no I/O, no clock.
 */
export class UsageAggregates {
  /** keyId → `day\nmodel` → row. */
  readonly #byKey = new Map<string, Map<string, UsageTotalsRow>>();

  /** Adds one record to its key's row for its day and model. */
  add(record: UsageRecord): void {
    let rows = this.#byKey.get(record.keyId);
    if (rows === undefined) {
      rows = new Map();
      this.#byKey.set(record.keyId, rows);
    }
    const day = utcDay(record.at);
    const slot = `${day}\n${record.model}`;
    let row = rows.get(slot);
    if (row === undefined) {
      row = { day, model: record.model, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0 };
      rows.set(slot, row);
    }
    row.requests += 1;
    row.promptTokens += record.promptTokens;
    row.completionTokens += record.completionTokens;
    row.totalTokens += record.promptTokens + record.completionTokens;
  }

  /** A key's rows within the query's days, sorted, as copies. */
  totals(query: UsageQuery): UsageTotalsRow[] {
    const { fromDay, toDay } = dayRange(query);
    const rows = [...(this.#byKey.get(query.keyId)?.values() ?? [])]
      .filter((row) => row.day >= fromDay && row.day <= toDay)
      .map((row) => ({ ...row }));
    return sortTotals(rows);
  }
}

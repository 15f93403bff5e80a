import { describe, expect, it } from 'vitest';
import { UsageAggregates } from './usage-aggregates.js';
import { normalizeUsageRecord, type UsageRecordInput } from './usage-record.js';

const DAY1 = Date.UTC(2025, 0, 1, 23, 59, 59, 999);
const DAY2 = Date.UTC(2025, 0, 2, 0, 0, 0, 0);

function input(overrides: Partial<UsageRecordInput> = {}): UsageRecordInput {
  return {
    keyId: 'alice',
    model: 'gpt-4o',
    provider: 'openai',
    promptTokens: 10,
    completionTokens: 5,
    durationMs: 100,
    outcome: 'completed',
    requestId: 'req',
    at: DAY1,
    ...overrides,
  };
}

describe('UsageAggregates', () => {
  it('sums by UTC day and model, sorted by day then model, per key', () => {
    const aggregates = new UsageAggregates();
    for (const overrides of [
      {},
      { promptTokens: 1, completionTokens: 2, outcome: 'cancelled' as const },
      { model: 'claude', at: DAY1 },
      { at: DAY2 },
      { keyId: 'bob', promptTokens: 1000 },
    ]) {
      aggregates.add(normalizeUsageRecord(input(overrides)));
    }
    expect(aggregates.totals({ keyId: 'alice' })).toEqual([
      {
        day: '2025-01-01',
        model: 'claude',
        requests: 1,
        promptTokens: 10,
        completionTokens: 5,
        totalTokens: 15,
      },
      {
        day: '2025-01-01',
        model: 'gpt-4o',
        requests: 2,
        promptTokens: 11,
        completionTokens: 7,
        totalTokens: 18,
      },
      {
        day: '2025-01-02',
        model: 'gpt-4o',
        requests: 1,
        promptTokens: 10,
        completionTokens: 5,
        totalTokens: 15,
      },
    ]);
    expect(aggregates.totals({ keyId: 'bob' })).toHaveLength(1);
    expect(aggregates.totals({ keyId: 'nobody' })).toEqual([]);
    expect(aggregates.totals({ keyId: 'alice', from: '2025-01-02' }).map((row) => row.day)).toEqual([
      '2025-01-02',
    ]);
    expect(aggregates.totals({ keyId: 'alice', to: DAY1 }).map((row) => row.day)).toEqual([
      '2025-01-01',
      '2025-01-01',
    ]);
  });

  it('returns copies, so callers cannot change the totals', () => {
    const aggregates = new UsageAggregates();
    aggregates.add(normalizeUsageRecord(input()));
    const [row] = aggregates.totals({ keyId: 'alice' });
    if (row) row.requests = 99;
    expect(aggregates.totals({ keyId: 'alice' })[0]?.requests).toBe(1);
  });
});

describe('normalizeUsageRecord', () => {
  it('fills at and ttftMs and rejects bad fields with invalid_record naming the field', () => {
    const { at: _at, ...rest } = input();
    expect(normalizeUsageRecord(rest, () => 42)).toMatchObject({ at: 42, ttftMs: null });
    expect(() => normalizeUsageRecord(input({ promptTokens: -1 }))).toThrow(/promptTokens/);
    expect(() => normalizeUsageRecord(input({ outcome: 'lost' as never }))).toThrow(
      expect.objectContaining({ code: 'invalid_record' }),
    );
    expect(() => normalizeUsageRecord(input({ keyId: '' }))).toThrow(/keyId/);
  });
});

import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileUsageLedger } from './file-usage-ledger.js';
import { formatLedgerLine } from './ledger-lines.js';
import { normalizeUsageRecord, type UsageRecordInput } from './usage-record.js';

const AT = Date.UTC(2025, 5, 1, 12);

function input(index: number, overrides: Partial<UsageRecordInput> = {}): UsageRecordInput {
  return {
    keyId: 'alice',
    model: index % 2 === 0 ? 'sim' : 'gpt-4o',
    provider: 'sim',
    promptTokens: index,
    completionTokens: 2 * index,
    ttftMs: 7,
    durationMs: 50,
    outcome: 'completed',
    requestId: `req-${index}`,
    at: AT,
    ...overrides,
  };
}

describe('FileUsageLedger', () => {
  let directory: string;
  let path: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'spool-usage-'));
    path = join(directory, 'nested', 'usage.jsonl');
  });
  afterEach(() => rm(directory, { recursive: true, force: true }));

  it('creates the directory and keeps every record across close and reopen', async () => {
    const ledger = await FileUsageLedger.open({ path });
    await Promise.all(Array.from({ length: 10 }, (_, index) => ledger.record(input(index))));
    const before = await ledger.totals({ keyId: 'alice' });
    await ledger.close();

    const reopened = await FileUsageLedger.open({ path });
    expect(await reopened.totals({ keyId: 'alice' })).toEqual(before);
    expect(before).toEqual([
      {
        day: '2025-06-01',
        model: 'gpt-4o',
        requests: 5,
        promptTokens: 25,
        completionTokens: 50,
        totalTokens: 75,
      },
      {
        day: '2025-06-01',
        model: 'sim',
        requests: 5,
        promptTokens: 20,
        completionTokens: 40,
        totalTokens: 60,
      },
    ]);
    await reopened.close();
  });

  it('a resolved record is on disk before close (as after a crash: reopened without closing)', async () => {
    const ledger = await FileUsageLedger.open({ path });
    await ledger.record(input(1));
    await ledger.record(input(2));
    const crashedView = await FileUsageLedger.open({ path });
    expect(await crashedView.totals({ keyId: 'alice' })).toEqual(await ledger.totals({ keyId: 'alice' }));
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(2);
    await crashedView.close();
    await ledger.close();
  });

  it('batches records that arrive together into fewer write + fsync rounds (group commit)', async () => {
    const ledger = await FileUsageLedger.open({ path });
    await Promise.all(Array.from({ length: 200 }, (_, index) => ledger.record(input(index))));
    expect(ledger.writeCount).toBeLessThan(10);
    expect((await ledger.totals({ keyId: 'alice' })).reduce((sum, row) => sum + row.requests, 0)).toBe(200);
    await ledger.close();
  });

  it('drops and truncates a torn last line, then appends on a clean line', async () => {
    const ledger = await FileUsageLedger.open({ path });
    await ledger.record(input(1));
    await ledger.close();
    const torn = formatLedgerLine(normalizeUsageRecord(input(2))).slice(0, 25);
    await appendFile(path, torn);

    const recovered = await FileUsageLedger.open({ path });
    expect((await recovered.totals({ keyId: 'alice' }))[0]?.requests).toBe(1);
    await recovered.record(input(3));
    await recovered.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines).toHaveLength(3); // two records and the empty string after the last newline
    expect(lines.map((line) => (line ? JSON.parse(line).requestId : ''))).toEqual(['req-1', 'req-3', '']);
    const again = await FileUsageLedger.open({ path });
    expect((await again.totals({ keyId: 'alice' })).reduce((sum, row) => sum + row.requests, 0)).toBe(2);
    await again.close();
  });

  it('keeps keys apart and filters by day', async () => {
    const ledger = await FileUsageLedger.open({ path });
    await ledger.record(input(1, { keyId: 'bob' }));
    await ledger.record(input(2, { at: AT + 86_400_000 }));
    expect(await ledger.totals({ keyId: 'alice', from: '2025-06-02', to: '2025-06-02' })).toHaveLength(1);
    expect(await ledger.totals({ keyId: 'alice', to: '2025-06-01' })).toEqual([]);
    expect(await ledger.totals({ keyId: 'bob' })).toHaveLength(1);
    await ledger.close();
  });

  it('refuses records after close with ledger_closed', async () => {
    const ledger = await FileUsageLedger.open({ path });
    await ledger.close();
    await expect(ledger.record(input(1))).rejects.toMatchObject({ code: 'ledger_closed' });
  });

  it('waits for pending records on close', async () => {
    const ledger = await FileUsageLedger.open({ path });
    const pending = Array.from({ length: 5 }, (_, index) => ledger.record(input(index)));
    await ledger.close();
    await Promise.all(pending);
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(5);
  });
});

import { describe, expect, it } from 'vitest';
import { formatLedgerLine, parseLedger } from './ledger-lines.js';
import type { UsageRecord } from './usage-record.js';

const record = (requestId: string): UsageRecord => ({
  keyId: 'k',
  model: 'sim',
  provider: 'sim',
  promptTokens: 3,
  completionTokens: 4,
  ttftMs: 5,
  durationMs: 6,
  outcome: 'completed',
  requestId,
  at: 1_700_000_000_000,
});

const lines = (...ids: string[]) => ids.map((id) => formatLedgerLine(record(id))).join('');

describe('parseLedger', () => {
  it('reads whole lines back as records', () => {
    const bytes = Buffer.from(lines('a', 'b'));
    expect(parseLedger(bytes)).toEqual({
      records: [record('a'), record('b')],
      validBytes: bytes.length,
      tornTail: false,
      skippedLines: 0,
    });
  });

  it('reports a last line without its newline as torn and ends the valid bytes before it', () => {
    const whole = lines('a');
    const bytes = Buffer.from(whole + lines('b').slice(0, 20));
    expect(parseLedger(bytes)).toMatchObject({
      records: [record('a')],
      validBytes: Buffer.byteLength(whole),
      tornTail: true,
      skippedLines: 0,
    });
  });

  it('treats an unparseable last line as torn, but keeps and skips a bad line in the middle', () => {
    const torn = Buffer.from(`${lines('a')}\u0000\u0000garbage\n`);
    expect(parseLedger(torn)).toMatchObject({ records: [record('a')], tornTail: true, skippedLines: 0 });
    expect(parseLedger(torn).validBytes).toBe(Buffer.byteLength(lines('a')));

    const middle = Buffer.from(`${lines('a')}{"not":"a record"}\n${lines('b')}`);
    expect(parseLedger(middle)).toMatchObject({
      records: [record('a'), record('b')],
      validBytes: middle.length,
      tornTail: false,
      skippedLines: 1,
    });
  });

  it('handles an empty file, blank lines and multi-byte model names', () => {
    expect(parseLedger(Buffer.alloc(0))).toEqual({
      records: [],
      validBytes: 0,
      tornTail: false,
      skippedLines: 0,
    });
    const unicode = formatLedgerLine({ ...record('u'), model: 'modèle-日本' });
    const bytes = Buffer.from(`\n${unicode}`);
    expect(parseLedger(bytes)).toMatchObject({ validBytes: bytes.length, tornTail: false });
    expect(parseLedger(bytes).records[0]?.model).toBe('modèle-日本');
  });
});

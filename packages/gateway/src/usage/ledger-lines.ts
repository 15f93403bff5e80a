import { isUsageRecord, type UsageRecord } from './usage-record.js';

/** What a ledger file holds, read back. */
export interface ParsedLedger {
  records: UsageRecord[];
  /** Bytes up to the end of the last whole line; a torn tail beyond it is cut away on open. */
  validBytes: number;
  /** A last line without its newline (a crash mid-append), or one that does not parse. */
  tornTail: boolean;
  /** Whole lines in the middle that do not parse (kept in the file, skipped in the totals). */
  skippedLines: number;
}

const NEWLINE = 0x0a;

/**
 * Reads a JSONL ledger. A record is durable only once its line *and* newline were fsync'd, so a
 * last line without a newline, or whose JSON does not parse, is a torn append from a crash: it
 * is reported (never counted) and the caller truncates the file to `validBytes`, so the next
 * append starts on a clean line. Appends are one `write` of whole lines, so only the last line
 * can be torn; a bad line elsewhere means the file was edited and is skipped, not deleted.
 */
export function parseLedger(bytes: Buffer): ParsedLedger {
  const records: UsageRecord[] = [];
  let skippedLines = 0;
  let start = 0;
  /** Where the last whole line starts, and whether it failed to parse. */
  let lastBad: number | undefined;
  while (start < bytes.length) {
    const end = bytes.indexOf(NEWLINE, start);
    if (end === -1) break;
    if (lastBad !== undefined) skippedLines += 1; // the bad line was not the last one after all
    lastBad = undefined;
    const line = bytes.subarray(start, end).toString('utf8').trim();
    if (line !== '') {
      const record = parseLine(line);
      if (record === undefined) lastBad = start;
      else records.push(record);
    }
    start = end + 1;
  }
  const partialTail = start < bytes.length;
  if (partialTail) {
    if (lastBad !== undefined) skippedLines += 1;
    return { records, validBytes: start, tornTail: true, skippedLines };
  }
  return { records, validBytes: lastBad ?? start, tornTail: lastBad !== undefined, skippedLines };
}

/** One record as a line of the file. */
export function formatLedgerLine(record: UsageRecord): string {
  return `${JSON.stringify(record)}\n`;
}

function parseLine(line: string): UsageRecord | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return isUsageRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

import { FileUsageLedger, type FileUsageLedgerOptions } from './file-usage-ledger.js';
import { MemoryUsageLedger } from './memory-usage-ledger.js';
import { PostgresUsageLedger, type PostgresUsageLedgerOptions } from './postgres-usage-ledger.js';
import { RedisUsageLedger, type RedisUsageLedgerOptions } from './redis-usage-ledger.js';
import type { UsageLedger } from './usage-record.js';

/** Where usage is kept: a local JSONL file (the default), memory (not durable), Redis or PostgreSQL. */
export type UsageLedgerStoreOptions =
  | ({ store?: 'file' } & FileUsageLedgerOptions)
  | { store: 'memory' }
  | ({ store: 'redis' } & RedisUsageLedgerOptions)
  | ({ store: 'postgres' } & PostgresUsageLedgerOptions);

/**
 * Opens the configured ledger.
 * @example
 * const ledger = await createUsageLedger({ store: 'file', path: './.spool/usage.jsonl' });
 */
export async function createUsageLedger(options: UsageLedgerStoreOptions = {}): Promise<UsageLedger> {
  switch (options.store) {
    case 'memory':
      return new MemoryUsageLedger();
    case 'redis':
      return RedisUsageLedger.connect(options);
    case 'postgres':
      return PostgresUsageLedger.connect(options);
    default:
      return FileUsageLedger.open(options);
  }
}

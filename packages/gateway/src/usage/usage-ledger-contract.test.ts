import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisServer, startRedisServer } from '@spool/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileUsageLedger } from './file-usage-ledger.js';
import { MemoryUsageLedger } from './memory-usage-ledger.js';
import { PostgresUsageLedger } from './postgres-usage-ledger.js';
import { RedisUsageLedger } from './redis-usage-ledger.js';
import type { UsageLedger, UsageRecordInput } from './usage-record.js';

const POSTGRES_URL = process.env.SPOOL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const POSTGRES_TABLE = `spool_usage_test_${process.pid}_${Date.now()}`;
const DAY1 = Date.UTC(2025, 2, 1, 8);
const DAY2 = Date.UTC(2025, 2, 2, 8);

async function postgresUnreachableReason(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}
const postgresUnreachable = await postgresUnreachableReason();
if (postgresUnreachable) {
  console.warn(
    `Skipping the PostgreSQL usage ledger tests: ${POSTGRES_URL} is unreachable (${postgresUnreachable}).`,
  );
}

let redis: RedisServer;
let directory: string;
beforeAll(async () => {
  redis = await startRedisServer();
  directory = await mkdtemp(join(tmpdir(), 'spool-usage-contract-'));
});
afterAll(async () => {
  await redis.stop();
  await rm(directory, { recursive: true, force: true });
  if (!postgresUnreachable) {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS "${POSTGRES_TABLE}"`);
    await client.end();
  }
});

/** Opens a ledger over the same durable place each call (a restart), or a fresh one (memory). */
type OpenLedger = () => Promise<UsageLedger>;
const redisPrefix = `usage${Date.now()}:`;
const stores: Array<[string, OpenLedger, boolean]> = [
  ['memory', async () => new MemoryUsageLedger(), false],
  ['file', () => FileUsageLedger.open({ path: join(directory, 'usage.jsonl') }), true],
  ['redis', () => RedisUsageLedger.connect({ url: redis.url, keyPrefix: redisPrefix }), true],
];
if (!postgresUnreachable) {
  stores.push([
    'postgres',
    () => PostgresUsageLedger.connect({ connectionString: POSTGRES_URL, table: POSTGRES_TABLE }),
    true,
  ]);
}

let requestCounter = 0;
function input(overrides: Partial<UsageRecordInput>): UsageRecordInput {
  return {
    keyId: 'alice',
    model: 'sim',
    provider: 'sim',
    promptTokens: 10,
    completionTokens: 20,
    ttftMs: 30,
    durationMs: 400,
    outcome: 'completed',
    requestId: `req-${++requestCounter}`,
    at: DAY1,
    ...overrides,
  };
}

describe.each(stores)('%s usage ledger', (_kind, openLedger, durable) => {
  let ledger: UsageLedger;
  beforeAll(async () => {
    ledger = await openLedger();
  });
  afterAll(() => ledger.close());

  it('totals a key by UTC day and model, sorted, apart from other keys', async () => {
    const keyId = `agg-${Date.now()}`;
    await Promise.all([
      ledger.record(input({ keyId, model: 'sim' })),
      ledger.record(
        input({ keyId, model: 'sim', promptTokens: 1, completionTokens: 2, outcome: 'failed', ttftMs: null }),
      ),
      ledger.record(input({ keyId, model: 'gpt-4o', streamId: 'str_1', outcome: 'cancelled' })),
      ledger.record(input({ keyId, model: 'sim', at: DAY2 })),
      ledger.record(input({ keyId: `${keyId}-other`, model: 'sim', promptTokens: 999 })),
    ]);
    expect(await ledger.totals({ keyId })).toEqual([
      {
        day: '2025-03-01',
        model: 'gpt-4o',
        requests: 1,
        promptTokens: 10,
        completionTokens: 20,
        totalTokens: 30,
      },
      {
        day: '2025-03-01',
        model: 'sim',
        requests: 2,
        promptTokens: 11,
        completionTokens: 22,
        totalTokens: 33,
      },
      {
        day: '2025-03-02',
        model: 'sim',
        requests: 1,
        promptTokens: 10,
        completionTokens: 20,
        totalTokens: 30,
      },
    ]);
    expect(await ledger.totals({ keyId, from: '2025-03-02' })).toHaveLength(1);
    expect(await ledger.totals({ keyId, from: DAY1, to: DAY1 })).toHaveLength(2);
    expect(await ledger.totals({ keyId: `${keyId}-other` })).toEqual([
      {
        day: '2025-03-01',
        model: 'sim',
        requests: 1,
        promptTokens: 999,
        completionTokens: 20,
        totalTokens: 1019,
      },
    ]);
  });

  it('refuses an invalid record with invalid_record and stores nothing', async () => {
    const keyId = `bad-${Date.now()}`;
    await expect(ledger.record(input({ keyId, completionTokens: 1.5 }))).rejects.toMatchObject({
      code: 'invalid_record',
    });
    expect(await ledger.totals({ keyId })).toEqual([]);
  });

  it.skipIf(!durable)('keeps every record across a restart', async () => {
    const keyId = `restart-${Date.now()}`;
    await Promise.all(Array.from({ length: 25 }, () => ledger.record(input({ keyId }))));
    const before = await ledger.totals({ keyId });
    await ledger.close();
    ledger = await openLedger();
    expect(await ledger.totals({ keyId })).toEqual(before);
    expect(before[0]?.requests).toBe(25);
  });
});

if (postgresUnreachable) {
  describe('postgres usage ledger', () => {
    it.skip(`skipped: PostgreSQL at ${POSTGRES_URL} is unreachable (${postgresUnreachable})`, () => {});
  });
}

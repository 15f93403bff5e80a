import { startRedisServer } from '@spool/testkit';
import { describe, expect, it } from 'vitest';
import { RedisUsageLedger } from './redis-usage-ledger.js';

describe('RedisUsageLedger when Redis fails', () => {
  it('rejects record and totals with store_unavailable, fast, once Redis is killed', async () => {
    const redis = await startRedisServer();
    const ledger = await RedisUsageLedger.connect({ url: redis.url, commandTimeoutMs: 300 });
    const record = {
      keyId: 'k',
      model: 'sim',
      provider: 'sim',
      promptTokens: 1,
      completionTokens: 1,
      durationMs: 1,
      outcome: 'completed' as const,
      requestId: 'r',
    };
    await ledger.record(record);
    await redis.kill();
    const started = performance.now();
    await expect(ledger.record(record)).rejects.toMatchObject({ code: 'store_unavailable', retryable: true });
    await expect(ledger.totals({ keyId: 'k' })).rejects.toMatchObject({ code: 'store_unavailable' });
    expect(performance.now() - started).toBeLessThan(2000);
    await ledger.close();
  });

  it('rejects a bad day in a query with invalid_query', async () => {
    const redis = await startRedisServer();
    const ledger = await RedisUsageLedger.connect({ url: redis.url });
    await expect(ledger.totals({ keyId: 'k', from: '2025-1-1' })).rejects.toMatchObject({
      code: 'invalid_query',
    });
    await ledger.close();
    await redis.stop();
  });
});

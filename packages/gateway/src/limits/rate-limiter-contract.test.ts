import { type RedisServer, startRedisServer } from '@spool/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRateLimiter } from './memory-rate-limiter.js';
import type { AcquireResult, KeyLimits, RateLimiter, RateLimitLease } from './rate-limiter.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';

const T0 = 1_700_000_000_000;
const LEASE_TTL_MS = 30_000;
let keyCounter = 0;
const newKeyId = () => `key-${process.pid}-${++keyCounter}`;

function leaseOf(result: AcquireResult): RateLimitLease {
  if (!result.allowed) throw new Error(`expected an admission, got a refusal for ${result.reason}`);
  return result.lease;
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(() => redis.stop());

/** Two views of one limit: the same instance for memory, two connections for Redis. */
type MakePair = () => Promise<[RateLimiter, RateLimiter]>;

describe.each([
  [
    'memory',
    (async () => {
      const limiter = new MemoryRateLimiter({ leaseHeartbeatMs: 0, leaseTtlMs: LEASE_TTL_MS });
      return [limiter, limiter];
    }) as MakePair,
  ],
  [
    'redis',
    (async () => {
      const options = {
        url: redis.url,
        keyPrefix: `rl${Date.now()}:`,
        leaseHeartbeatMs: 0,
        leaseTtlMs: LEASE_TTL_MS,
      };
      return [await RedisRateLimiter.connect(options), await RedisRateLimiter.connect(options)];
    }) as MakePair,
  ],
])('%s rate limiter', (_kind, makePair) => {
  let first: RateLimiter;
  let second: RateLimiter;
  beforeAll(async () => {
    [first, second] = await makePair();
  });
  afterAll(async () => {
    await first.close();
    if (second !== first) await second.close();
  });

  it('admits requestsPerMinute requests, refuses the next until the oldest is a minute old', async () => {
    const keyId = newKeyId();
    const limits: KeyLimits = { requestsPerMinute: 3 };
    for (let index = 0; index < 3; index++) {
      expect(
        (await first.acquire({ keyId, limits, estimatedTokens: 0, now: T0 + index * 1000 })).allowed,
      ).toBe(true);
    }
    const refused = await second.acquire({ keyId, limits, estimatedTokens: 0, now: T0 + 10_000 });
    expect(refused).toMatchObject({ allowed: false, reason: 'requests', retryAfterSeconds: 50 });
    expect(refused.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(refused.headers['x-ratelimit-reset-requests']).toBe('52s');
    expect((await second.acquire({ keyId, limits, estimatedTokens: 0, now: T0 + 60_000 })).allowed).toBe(
      true,
    );
  });

  it('two instances firing more than the limit in parallel admit exactly the limit', async () => {
    const keyId = newKeyId();
    const limits: KeyLimits = { requestsPerMinute: 25, tokensPerMinute: 1_000_000 };
    const results = await Promise.all(
      Array.from({ length: 80 }, (_, index) =>
        (index % 2 === 0 ? first : second).acquire({ keyId, limits, estimatedTokens: 10, now: T0 + index }),
      ),
    );
    expect(results.filter((result) => result.allowed)).toHaveLength(25);
    expect(results.filter((result) => !result.allowed && result.reason === 'requests')).toHaveLength(55);
  });

  it('concurrency slots are shared by both instances and exact under a parallel burst', async () => {
    const keyId = newKeyId();
    const limits: KeyLimits = { concurrentStreams: 4 };
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        (index % 2 === 0 ? first : second).acquire({ keyId, limits, estimatedTokens: 0, now: T0 }),
      ),
    );
    expect(results.filter((result) => result.allowed)).toHaveLength(4);
    expect(results.find((result) => !result.allowed)).toMatchObject({
      reason: 'concurrency',
      retryAfterSeconds: 1,
    });
  });

  it('reconcile refunds an overestimate and charges an underestimate', async () => {
    const keyId = newKeyId();
    const limits: KeyLimits = { tokensPerMinute: 1000 };
    const reserved = await first.acquire({ keyId, limits, estimatedTokens: 100, now: T0 });
    expect(reserved.headers['x-ratelimit-remaining-tokens']).toBe('900');
    await leaseOf(reserved).reconcile(30, T0 + 1);
    expect((await second.peek({ keyId, limits, now: T0 + 2 }))['x-ratelimit-remaining-tokens']).toBe('970');

    const under = leaseOf(await second.acquire({ keyId, limits, estimatedTokens: 100, now: T0 + 3 }));
    await under.reconcile(150, T0 + 4);
    expect((await first.peek({ keyId, limits, now: T0 + 5 }))['x-ratelimit-remaining-tokens']).toBe('820');
  });

  it('refuses on tokens with the wait until enough reserved tokens leave the window', async () => {
    const keyId = newKeyId();
    const limits: KeyLimits = { requestsPerMinute: 100, tokensPerMinute: 1000 };
    leaseOf(await first.acquire({ keyId, limits, estimatedTokens: 600, now: T0 }));
    leaseOf(await first.acquire({ keyId, limits, estimatedTokens: 300, now: T0 + 20_000 }));
    const refused = await second.acquire({ keyId, limits, estimatedTokens: 200, now: T0 + 30_000 });
    expect(refused).toMatchObject({ allowed: false, reason: 'tokens', retryAfterSeconds: 30 });
    // A refusal charges nothing, on either window.
    expect(refused.headers).toMatchObject({
      'x-ratelimit-remaining-requests': '98',
      'x-ratelimit-remaining-tokens': '100',
    });
    expect((await second.acquire({ keyId, limits, estimatedTokens: 200, now: T0 + 60_000 })).allowed).toBe(
      true,
    );
  });

  it('an overrun reconciled after the reservation left the window is charged at that time', async () => {
    const keyId = newKeyId();
    const limits: KeyLimits = { tokensPerMinute: 1000 };
    const lease = leaseOf(await first.acquire({ keyId, limits, estimatedTokens: 100, now: T0 }));
    await lease.reconcile(300, T0 + 61_000);
    expect((await second.peek({ keyId, limits, now: T0 + 61_001 }))['x-ratelimit-remaining-tokens']).toBe(
      '800',
    );
  });

  it('release frees a concurrency slot, once, even when called twice', async () => {
    const keyId = newKeyId();
    const limits: KeyLimits = { concurrentStreams: 2 };
    const a = leaseOf(await first.acquire({ keyId, limits, estimatedTokens: 0, now: T0 }));
    leaseOf(await second.acquire({ keyId, limits, estimatedTokens: 0, now: T0 }));
    expect(await first.acquire({ keyId, limits, estimatedTokens: 0, now: T0 })).toMatchObject({
      allowed: false,
      reason: 'concurrency',
    });
    await a.release();
    await a.release();
    leaseOf(await second.acquire({ keyId, limits, estimatedTokens: 0, now: T0 + 1 }));
    expect((await second.acquire({ keyId, limits, estimatedTokens: 0, now: T0 + 2 })).allowed).toBe(false);
  });

  it('a lease nobody extends (its instance crashed) frees its slot after leaseTtlMs; a heartbeat keeps it', async () => {
    const keyId = newKeyId();
    const limits: KeyLimits = { concurrentStreams: 1 };
    leaseOf(await first.acquire({ keyId, limits, estimatedTokens: 0, now: T0 }));
    expect(
      (await second.acquire({ keyId, limits, estimatedTokens: 0, now: T0 + LEASE_TTL_MS - 1 })).allowed,
    ).toBe(false);
    leaseOf(await second.acquire({ keyId, limits, estimatedTokens: 0, now: T0 + LEASE_TTL_MS }));

    const otherKey = newKeyId();
    const held = leaseOf(await first.acquire({ keyId: otherKey, limits, estimatedTokens: 0, now: T0 }));
    await first.refreshLeases(T0 + 20_000);
    expect(
      (await second.acquire({ keyId: otherKey, limits, estimatedTokens: 0, now: T0 + 40_000 })).allowed,
    ).toBe(false);
    await held.release();
    expect(
      (await second.acquire({ keyId: otherKey, limits, estimatedTokens: 0, now: T0 + 40_001 })).allowed,
    ).toBe(true);
  });

  it('answers OpenAI headers for the configured limits only, in OpenAI duration format', async () => {
    const keyId = newKeyId();
    const both: KeyLimits = { requestsPerMinute: 60, tokensPerMinute: 1000, concurrentStreams: 5 };
    const admitted = await first.acquire({ keyId, limits: both, estimatedTokens: 100, now: T0 });
    expect(admitted.headers).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1m0s',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '900',
      'x-ratelimit-reset-tokens': '1m0s',
    });
    expect(await second.peek({ keyId, limits: both, now: T0 + 20_500 })).toMatchObject({
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '39.5s',
      'x-ratelimit-reset-tokens': '39.5s',
    });
    expect(Object.keys(await second.peek({ keyId, limits: { requestsPerMinute: 60 }, now: T0 + 1 }))).toEqual(
      ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
    );
    const unlimited = await first.acquire({ keyId, limits: {}, estimatedTokens: 5, now: T0 });
    expect(unlimited.allowed && unlimited.headers).toEqual({});
  });
});

import { getFreePort, type RedisServer, startRedisServer } from '@spool/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RateLimitStoreUnavailableError } from './rate-limiter.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';

const T0 = 1_700_000_000_000;
const limits = { requestsPerMinute: 100, tokensPerMinute: 10_000, concurrentStreams: 10 };

describe('RedisRateLimiter when Redis fails', () => {
  let redis: RedisServer | undefined;
  let limiter: RedisRateLimiter | undefined;
  afterEach(async () => {
    await limiter?.close();
    await redis?.stop();
  });

  it('fail closed (the default): Redis killed mid-run → acquire and peek refuse with store_unavailable, fast', async () => {
    redis = await startRedisServer();
    limiter = await RedisRateLimiter.connect({ url: redis.url, leaseHeartbeatMs: 0, commandTimeoutMs: 300 });
    const lease = await limiter.acquire({ keyId: 'k', limits, estimatedTokens: 10, now: T0 });
    expect(lease.allowed).toBe(true);
    await redis.kill();

    const started = performance.now();
    const failure = await limiter
      .acquire({ keyId: 'k', limits, estimatedTokens: 10, now: T0 + 1 })
      .catch((e) => e);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(failure).toBeInstanceOf(RateLimitStoreUnavailableError);
    expect(failure).toMatchObject({
      code: 'store_unavailable',
      status: 503,
      retryable: true,
      retryAfterSeconds: 1,
    });
    expect(failure.body.error).toMatchObject({ code: 'store_unavailable', type: 'server_error' });
    await expect(limiter.peek({ keyId: 'k', limits })).rejects.toBeInstanceOf(RateLimitStoreUnavailableError);
    // Lease operations never throw: the slot expires by itself.
    if (lease.allowed) {
      await expect(lease.lease.reconcile(5)).resolves.toBeUndefined();
      await expect(lease.lease.release()).resolves.toBeUndefined();
    }
  });

  it('fail open: Redis killed mid-run → requests are admitted without limits or headers', async () => {
    redis = await startRedisServer();
    limiter = await RedisRateLimiter.connect({
      url: redis.url,
      failMode: 'open',
      leaseHeartbeatMs: 0,
      commandTimeoutMs: 300,
    });
    const strict = { requestsPerMinute: 1 };
    expect((await limiter.acquire({ keyId: 'k', limits: strict, estimatedTokens: 0, now: T0 })).allowed).toBe(
      true,
    );
    expect((await limiter.acquire({ keyId: 'k', limits: strict, estimatedTokens: 0, now: T0 })).allowed).toBe(
      false,
    );
    await redis.kill();
    const started = performance.now();
    const results = await Promise.all(
      [1, 2, 3].map(() => limiter?.acquire({ keyId: 'k', limits: strict, estimatedTokens: 0, now: T0 })),
    );
    expect(performance.now() - started).toBeLessThan(2000);
    expect(results.map((result) => result?.allowed)).toEqual([true, true, true]);
    expect(results[0]?.headers).toEqual({});
    expect(await limiter.peek({ keyId: 'k', limits: strict })).toEqual({});
  });

  it('connect fails fast in closed mode when nothing listens, and starts anyway in open mode', async () => {
    const url = `redis://127.0.0.1:${await getFreePort()}`;
    await expect(RedisRateLimiter.connect({ url, leaseHeartbeatMs: 0 })).rejects.toMatchObject({
      code: 'store_unavailable',
    });
    limiter = await RedisRateLimiter.connect({ url, failMode: 'open', leaseHeartbeatMs: 0 });
    expect((await limiter.acquire({ keyId: 'k', limits, estimatedTokens: 1 })).allowed).toBe(true);
  });

  it('reloads its scripts after SCRIPT FLUSH (EVALSHA → NOSCRIPT → EVAL)', async () => {
    redis = await startRedisServer();
    limiter = await RedisRateLimiter.connect({ url: redis.url, leaseHeartbeatMs: 0 });
    const strict = { requestsPerMinute: 2 };
    expect((await limiter.acquire({ keyId: 'k', limits: strict, estimatedTokens: 0, now: T0 })).allowed).toBe(
      true,
    );
    const admin = new Redis(redis.url);
    await admin.script('FLUSH');
    await admin.quit();
    expect((await limiter.acquire({ keyId: 'k', limits: strict, estimatedTokens: 0, now: T0 })).allowed).toBe(
      true,
    );
    expect((await limiter.acquire({ keyId: 'k', limits: strict, estimatedTokens: 0, now: T0 })).allowed).toBe(
      false,
    );
  });

  it('uses the Redis clock when the caller passes none', async () => {
    redis = await startRedisServer();
    limiter = await RedisRateLimiter.connect({ url: redis.url, leaseHeartbeatMs: 0 });
    const result = await limiter.acquire({
      keyId: 'k',
      limits: { requestsPerMinute: 5 },
      estimatedTokens: 0,
    });
    expect(result.headers['x-ratelimit-reset-requests']).toBe('1m0s');
    const admin = new Redis(redis.url);
    const [score] = await admin
      .zrange('spool:rl:{k}:req', 0, 0, 'WITHSCORES')
      .then((reply) => reply.slice(1));
    await admin.quit();
    expect(Math.abs(Number(score) - Date.now())).toBeLessThan(5000);
  });
});

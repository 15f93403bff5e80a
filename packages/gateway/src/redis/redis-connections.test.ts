import { createFaultProxy, delay, getFreePort } from '@spool/testkit';
import { describe, expect, it } from 'vitest';
import { clientNames, quitCount, useWatchedRedis } from '../../test/redis-clients.js';
import { RateLimitStoreUnavailableError } from '../limits/rate-limiter.js';
import { RedisRateLimiter } from '../limits/redis-rate-limiter.js';
import { RedisConnections } from './redis-connections.js';

describe('RedisConnections', () => {
  const watched = useWatchedRedis();

  it('shares one command connection among the leases on a URL and quits it once, with the last lease', async () => {
    await watched.admin.config('RESETSTAT');
    const connections = new RedisConnections();
    const leases = [connections.commands(watched.server.url), connections.commands(watched.server.url)];
    const subscriber = connections.subscriber(watched.server.url);
    await Promise.all([...leases, subscriber].map((lease) => lease.ready()));
    expect(leases[0]?.redis).toBe(leases[1]?.redis);
    expect(await clientNames(watched.admin)).toEqual(['spool-commands', 'spool-subscriber']);

    await leases[0]?.release();
    await leases[0]?.release();
    expect(await leases[1]?.redis.ping()).toBe('PONG');
    await subscriber.release();
    expect(await clientNames(watched.admin)).toEqual(['spool-commands']);
    await leases[1]?.release();
    expect(await clientNames(watched.admin)).toEqual([]);
    expect(await quitCount(watched.admin)).toBe(2);
  });

  it('opens a new command connection for a lease taken after the last one was given back', async () => {
    const connections = new RedisConnections();
    const first = connections.commands(watched.server.url);
    await first.ready();
    await first.release();
    const second = connections.commands(watched.server.url);
    await second.ready();
    expect(second.redis).not.toBe(first.redis);
    expect(await second.redis.ping()).toBe('PONG');
    await second.release();
  });

  it('rejects ready() when nothing listens, and reports the error to onError', async () => {
    const errors: Error[] = [];
    const connections = new RedisConnections({ onError: (error) => errors.push(error) });
    const lease = connections.commands(`redis://127.0.0.1:${await getFreePort()}`);
    await expect(lease.ready()).rejects.toThrow();
    await lease.release();
    expect(errors.length).toBeGreaterThan(0);
    for (const error of errors) expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it("keeps each user's deadline on a shared connection: the limiter gives up at its own, a plain command waits for its reply", async () => {
    // Every reply takes 600 ms: longer than the limiter's deadline, shorter than the connection's.
    const proxy = await createFaultProxy({
      target: { host: '127.0.0.1', port: watched.server.port },
      plan: [delay(600, 'down')],
    });
    const connections = new RedisConnections({ commandTimeoutMs: 2000 });
    const url = `redis://127.0.0.1:${proxy.port}`;
    const plain = connections.commands(url);
    const limiter = await RedisRateLimiter.connect({
      url,
      connections,
      commandTimeoutMs: 200,
      leaseHeartbeatMs: 0,
    });
    try {
      const started = performance.now();
      const refused = limiter.acquire({ keyId: 'k', limits: { requestsPerMinute: 5 }, estimatedTokens: 0 });
      const answered = plain.redis.ping();
      await expect(refused).rejects.toBeInstanceOf(RateLimitStoreUnavailableError);
      expect(performance.now() - started).toBeLessThan(600);
      await expect(answered).resolves.toBe('PONG');
    } finally {
      await limiter.close();
      await plain.release();
      await proxy.close();
    }
  });
});

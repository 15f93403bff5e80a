import { createFaultProxy, delay, getFreePort, type RedisServer, startRedisServer } from '@spool/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitStoreUnavailableError } from '../limits/rate-limiter.js';
import { RedisRateLimiter } from '../limits/redis-rate-limiter.js';
import { RedisConnections } from './redis-connections.js';

/** The names of the clients connected to the server, besides `admin`. */
async function clientNames(admin: Redis): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  const own = String(await admin.client('ID'));
  return list
    .trim()
    .split('\n')
    .filter((line) => !line.startsWith(`id=${own} `))
    .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '')
    .sort();
}

/** How many QUITs the server has answered since its stats were reset. */
async function quits(admin: Redis): Promise<number> {
  const stats = (await admin.info('commandstats')) as string;
  return Number(/cmdstat_quit:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('RedisConnections', () => {
  let redis: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedisServer();
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });

  it('shares one command connection among the leases on a URL and quits it once, with the last lease', async () => {
    await admin.config('RESETSTAT');
    const connections = new RedisConnections();
    const leases = [connections.commands(redis.url), connections.commands(redis.url)];
    const subscriber = connections.subscriber(redis.url);
    await Promise.all([...leases, subscriber].map((lease) => lease.ready()));
    expect(leases[0]?.redis).toBe(leases[1]?.redis);
    expect(await clientNames(admin)).toEqual(['spool-commands', 'spool-subscriber']);

    await leases[0]?.release();
    await leases[0]?.release();
    expect(await leases[1]?.redis.ping()).toBe('PONG');
    await subscriber.release();
    expect(await clientNames(admin)).toEqual(['spool-commands']);
    await leases[1]?.release();
    expect(await clientNames(admin)).toEqual([]);
    expect(await quits(admin)).toBe(2);
  });

  it('opens a new command connection for a lease taken after the last one was given back', async () => {
    const connections = new RedisConnections();
    const first = connections.commands(redis.url);
    await first.ready();
    await first.release();
    const second = connections.commands(redis.url);
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
      target: { host: '127.0.0.1', port: redis.port },
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

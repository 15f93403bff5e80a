import { type RedisServer, startRedisServer } from '@spool/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postChat, startTestGateway } from './helpers.js';

const KEY = 'sk-test-key-000001';
const auth = { authorization: `Bearer ${KEY}` };
const messages = [{ role: 'user' as const, content: 'Count my connections.' }];

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

describe("a gateway's Redis connections", () => {
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

  it('with the spool, limits, usage and cache all in Redis: one command connection and the spool subscriber, each quit once on close', async () => {
    const gateway = await startTestGateway({
      spool: { store: 'redis', redisUrl: redis.url, keyPrefix: `conn${Date.now()}:` },
      limits: { store: 'redis' },
      usage: { store: 'redis' },
      cache: { enabled: true, store: 'redis' },
      keys: [{ name: 'team', key: KEY, limits: { requestsPerMinute: 100 } }],
    });
    try {
      // Each part has used Redis: the limiter, the cache (non-streamed), the spool, the ledger.
      expect((await postChat(gateway.url, { model: 'sim', messages }, auth)).status).toBe(200);
      expect((await postChat(gateway.url, { model: 'sim', messages, stream: true }, auth)).status).toBe(200);
      expect(await clientNames(admin)).toEqual(['spool-commands', 'spool-subscriber']);
    } finally {
      await admin.config('RESETSTAT');
      await gateway.close();
    }
    expect(await clientNames(admin)).toEqual([]);
    const stats = (await admin.info('commandstats')) as string;
    expect(/cmdstat_quit:calls=(\d+)/.exec(stats)?.[1]).toBe('2');
  });

  it('gives limits on a Redis of their own a command connection of their own', async () => {
    const other = await startRedisServer();
    const otherAdmin = new Redis(other.url);
    const gateway = await startTestGateway({
      spool: { store: 'redis', redisUrl: redis.url, keyPrefix: `conn${Date.now()}:` },
      limits: { store: 'redis', redisUrl: other.url },
    });
    try {
      expect(await clientNames(admin)).toEqual(['spool-commands', 'spool-subscriber']);
      expect(await clientNames(otherAdmin)).toEqual(['spool-commands']);
    } finally {
      await gateway.close();
      otherAdmin.disconnect();
      await other.stop();
    }
  });
});

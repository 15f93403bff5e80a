import { getFreePort } from '@spool/testkit';
import { expect, test } from 'vitest';
import { createRedisConnection } from './redis-connection.js';

test('a connection to a Redis that is down fails its commands at once instead of queueing them', async () => {
  const errors: Error[] = [];
  const redis = createRedisConnection(`redis://127.0.0.1:${await getFreePort()}`, {
    commandTimeoutMs: 60_000,
    onError: (error) => errors.push(error),
  });
  try {
    await expect(redis.connect()).rejects.toThrow();
    // With an offline queue this would wait for a reconnect (or the 60 s command timeout).
    await expect(redis.get('key')).rejects.toThrow(/enableOfflineQueue/);
    expect(errors.length).toBeGreaterThan(0);
  } finally {
    redis.disconnect();
  }
});

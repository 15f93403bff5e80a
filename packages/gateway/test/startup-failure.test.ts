import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, type RedisServer, startRedisServer } from '@spool/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startGateway } from '../src/index.js';
import { SPOOL_CLI } from './helpers.js';

/** The clients connected to a Redis besides the one asking. */
async function otherClients(redis: Redis): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list.trim().split('\n').length - 1;
}

describe('a fatal start-up error', () => {
  let redis: RedisServer;
  let admin: Redis;
  let directory: string;
  let configPath: string;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    redis = await startRedisServer();
    admin = new Redis(redis.url);
    directory = await mkdtemp(join(tmpdir(), 'spool-startup-'));
    // Redis for the spool opens fine; the usage store's PostgreSQL refuses (nothing listens there).
    config = {
      server: { port: 0, logLevel: 'silent' },
      spool: { store: 'redis', redisUrl: redis.url, keyPrefix: 'startup-test:' },
      limits: { store: 'redis' },
      usage: { store: 'postgres', postgresUrl: `postgres://127.0.0.1:${await getFreePort()}/missing` },
    };
    configPath = join(directory, 'spool.json');
    await writeFile(configPath, JSON.stringify(config));
  });

  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('closes the Redis connections startGateway had opened before it rejects', async () => {
    await expect(startGateway(parseConfig(config))).rejects.toThrow(/usage table|ECONNREFUSED/);
    expect(await otherClients(admin)).toBe(0);
  });

  it('makes `spool serve` print the error and exit 1 promptly, not hang holding Redis', async () => {
    const child = spawn(process.execPath, [SPOOL_CLI, 'serve', '--config', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // Bounded: a hang fails the test instead of waiting for vitest's timeout.
    const deadline = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(deadline);
    expect({ code, signal }).toEqual({ code: 1, signal: null });
    expect(stderr).toMatch(/^spool: .*usage table.*ECONNREFUSED/m);
    expect(await otherClients(admin)).toBe(0);
  });
});

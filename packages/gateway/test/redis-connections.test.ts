import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '@spool/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { postChat, startTestGateway } from './helpers.js';
import { clientNames, quitCount, useWatchedRedis } from './redis-clients.js';

const KEY = 'sk-test-key-000001';
const auth = { authorization: `Bearer ${KEY}` };
const messages = [{ role: 'user' as const, content: 'Count my connections.' }];

describe("a gateway's Redis connections", () => {
  const watched = useWatchedRedis();

  it('with the spool, limits, usage and cache all in Redis: one command connection and the spool subscriber, each quit once on close', async () => {
    const gateway = await startTestGateway({
      spool: { store: 'redis', redisUrl: watched.server.url, keyPrefix: `conn${Date.now()}:` },
      limits: { store: 'redis' },
      usage: { store: 'redis' },
      cache: { enabled: true, store: 'redis' },
      keys: [{ name: 'team', key: KEY, limits: { requestsPerMinute: 100 } }],
    });
    try {
      // Each part has used Redis: the limiter, the cache (non-streamed), the spool, the ledger.
      expect((await postChat(gateway.url, { model: 'sim', messages }, auth)).status).toBe(200);
      expect((await postChat(gateway.url, { model: 'sim', messages, stream: true }, auth)).status).toBe(200);
      expect(await clientNames(watched.admin)).toEqual(['spool-commands', 'spool-subscriber']);
    } finally {
      await watched.admin.config('RESETSTAT');
      await gateway.close();
    }
    expect(await clientNames(watched.admin)).toEqual([]);
    expect(await quitCount(watched.admin)).toBe(2);
  });

  it('gives limits on a Redis of their own a command connection of their own', async () => {
    const other = await startRedisServer();
    const otherAdmin = new Redis(other.url);
    const gateway = await startTestGateway({
      spool: { store: 'redis', redisUrl: watched.server.url, keyPrefix: `conn${Date.now()}:` },
      limits: { store: 'redis', redisUrl: other.url },
    });
    try {
      expect(await clientNames(watched.admin)).toEqual(['spool-commands', 'spool-subscriber']);
      expect(await clientNames(otherAdmin)).toEqual(['spool-commands']);
    } finally {
      await gateway.close();
      otherAdmin.disconnect();
      await other.stop();
    }
  });

  it("lets an embedded gateway's process exit when it is closed while Redis is down", async () => {
    const redis = await startRedisServer();
    // The built gateway in a process of its own: the test is whether that process can end.
    const gatewayModule = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `
      const { parseConfig, startGateway } = await import(${JSON.stringify(gatewayModule)});
      const gateway = await startGateway(parseConfig({
        server: { port: 0, logLevel: 'silent' },
        spool: { store: 'redis', redisUrl: ${JSON.stringify(redis.url)} },
        limits: { store: 'redis' },
        usage: { store: 'memory' },
      }));
      process.stdout.write('started\\n');
      process.stdin.once('data', () => void gateway.close().then(() => process.stdout.write('closed\\n')));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const deadline = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      while (!stdout.includes('started')) await once(child.stdout, 'data');
      await redis.kill();
      child.stdin.end('close\n');
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      // Killed at the deadline: a connection kept reconnecting to the dead Redis after close().
      expect({ code, signal, stdout }).toEqual({ code: 0, signal: null, stdout: 'started\nclosed\n' });
    } finally {
      clearTimeout(deadline);
      child.kill('SIGKILL');
    }
  });
});

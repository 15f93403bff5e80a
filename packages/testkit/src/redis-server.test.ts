import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BinaryNotFoundError, ProcessStartError } from './errors.js';
import { pingRedis, startRedisServer } from './redis-server.js';

function command(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      socket.destroy();
      resolve(chunk.toString());
    });
    socket.write(text);
  });
}

function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code));
  });
}

describe('startRedisServer', () => {
  it('starts redis-server on a free loopback port without persistence, answering PING', async () => {
    const redis = await startRedisServer();
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(await pingRedis(redis.port)).toBe(true);
      expect(await command(redis.port, 'CONFIG GET save\r\n')).toBe('*2\r\n$4\r\nsave\r\n$0\r\n\r\n');
      expect(await command(redis.port, 'CONFIG GET appendonly\r\n')).toContain('no');
    } finally {
      await redis.stop();
    }
  });

  it('stop() shuts it down gracefully and is idempotent', async () => {
    const redis = await startRedisServer();
    const exit = await redis.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await redis.stop()).toEqual(exit);
    expect(await connectError(redis.port)).toBe('ECONNREFUSED');
  });

  it('kill() crashes it with SIGKILL', async () => {
    const redis = await startRedisServer();
    expect(await redis.kill()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await pingRedis(redis.port)).toBe(false);
  });

  it('says how to install redis-server when the binary is missing', async () => {
    const attempt = startRedisServer({ bin: 'redis-server-that-does-not-exist' });
    await expect(attempt).rejects.toBeInstanceOf(BinaryNotFoundError);
    await expect(attempt).rejects.toMatchObject({
      code: 'binary_not_found',
      message: expect.stringContaining('install it: apt-get install redis-server'),
    });
  });

  it('reports a server that exits before answering, with its output', async () => {
    const attempt = startRedisServer({ extraArgs: ['--no-such-option', 'x'] });
    await expect(attempt).rejects.toBeInstanceOf(ProcessStartError);
    await expect(attempt).rejects.toMatchObject({
      code: 'process_exited',
      output: expect.stringMatching(/no-such-option/i),
    });
  });
});

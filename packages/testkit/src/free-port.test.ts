import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { getFreePort } from './free-port.js';

describe('getFreePort', () => {
  it('returns a loopback port that can be listened on', async () => {
    const port = await getFreePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65_536);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    // While that port is taken, the next one asked for is another.
    expect(await getFreePort()).not.toBe(port);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

import { seededRandom } from '@spool/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createFaultProxy, type FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
import { cutAfterBytes, cutAtRandom, delay, refuse, stall, throttle } from './faults.js';
import type { ProxyEvent } from './proxy-events.js';
import {
  connectClient,
  echo,
  patternBytes,
  sendOnConnect,
  startTcpServer,
  type TestServer,
} from './tcp-fixtures.test-support.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(handle: Parameters<typeof startTcpServer>[0]): Promise<TestServer> {
  const started = await startTcpServer(handle);
  cleanups.push(() => started.close());
  return started;
}

async function proxyTo(
  target: TestServer,
  options: Omit<FaultProxyOptions, 'target'> = {},
): Promise<FaultProxy> {
  const proxy = await createFaultProxy({ target: { host: '127.0.0.1', port: target.port }, ...options });
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('createFaultProxy without faults', () => {
  it('forwards both ways byte for byte, half-close included, and counts the bytes', async () => {
    const payload = patternBytes(3 * 1024 * 1024);
    const proxy = await proxyTo(await server(echo));
    expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
    expect(proxy.address).toEqual({ host: '127.0.0.1', port: proxy.port });
    const result = await connectClient(proxy.port, { send: payload, end: true }).closed;
    expect(result.error).toBeUndefined();
    expect(result.bytes.equals(payload)).toBe(true);
    expect(proxy.stats).toMatchObject({
      connections: 1,
      bytesUp: payload.length,
      bytesDown: payload.length,
      cuts: 0,
    });
  });

  it('holds at most a bounded amount in memory for a slow reader (backpressure)', async () => {
    const payload = patternBytes(8 * 1024 * 1024);
    const proxy = await proxyTo(await server(sendOnConnect(payload)));
    const client = connectClient(proxy.port);
    let mostBuffered = 0;
    client.socket.on('data', () => {
      mostBuffered = Math.max(mostBuffered, proxy.connections[0]?.bufferedDown ?? 0);
      // A reader slower than loopback: without backpressure the proxy would read the whole payload
      // from the target and hold it for the client.
      client.socket.pause();
      setTimeout(() => client.socket.resume(), 1);
    });
    const result = await client.closed;
    expect(result.bytes.length).toBe(payload.length);
    expect(mostBuffered).toBeLessThan(1024 * 1024);
  });
});

describe('cutAfterBytes', () => {
  it('delivers exactly 37 bytes downstream, splitting the chunk mid-way, then closes both sockets', async () => {
    const target = await server(sendOnConnect(patternBytes(100)));
    const events: ProxyEvent[] = [];
    const proxy = await proxyTo(target, {
      plan: [cutAfterBytes(37)],
      onEvent: (event) => events.push(event),
    });
    const result = await connectClient(proxy.port).closed;
    expect(result.bytes.toString()).toBe(patternBytes(37).toString());
    expect(events.find((event) => event.type === 'cut')).toEqual({
      type: 'cut',
      index: 0,
      direction: 'down',
      afterBytes: 37,
    });
    expect(proxy.stats).toMatchObject({ cuts: 1, bytesDown: 37 });
    expect(proxy.connections[0]).toMatchObject({ cut: true, bytesDown: 37 });
  });

  it('lands the cut at the exact byte whatever the chunking of the source', async () => {
    const target = await server((socket) => {
      for (let chunk = 0; chunk < 50; chunk += 1) socket.write(patternBytes(7));
      socket.end();
    });
    const proxy = await proxyTo(target, { plan: [cutAfterBytes(100)] });
    const result = await connectClient(proxy.port).closed;
    expect(result.bytes.toString()).toBe(patternBytes(7).toString().repeat(15).slice(0, 100));
  });

  it('cuts upstream after n bytes: the target gets exactly n, the client is closed', async () => {
    let targetReceived: Promise<Buffer> | undefined;
    const target = await server((socket) => {
      targetReceived = new Promise((resolve) => {
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('close', () => resolve(Buffer.concat(chunks)));
      });
    });
    const proxy = await proxyTo(target, { plan: [cutAfterBytes(10, 'up')] });
    const cut = proxy.waitForEvent('cut');
    const client = connectClient(proxy.port, { send: patternBytes(50) });
    await cut;
    await client.closed;
    expect((await targetReceived)?.toString()).toBe(patternBytes(10).toString());
  });

  it('cuts at byte 0 before anything is forwarded', async () => {
    const proxy = await proxyTo(await server(sendOnConnect('hello')), { plan: [cutAfterBytes(0)] });
    const result = await connectClient(proxy.port).closed;
    expect(result.bytes.length).toBe(0);
    expect(proxy.stats.cuts).toBe(1);
  });
});

describe('cutAtRandom', () => {
  it('cuts each connection at a seeded, replayable point inside the range', async () => {
    const target = await server(sendOnConnect(patternBytes(500)));
    const proxy = await proxyTo(target, {
      plan: [cutAtRandom({ minBytes: 50, maxBytes: 400, random: seededRandom(42) })],
    });
    const lengths: number[] = [];
    for (let connection = 0; connection < 4; connection += 1) {
      lengths.push((await connectClient(proxy.port).closed).bytes.length);
    }
    const replay = seededRandom(42);
    expect(lengths).toEqual(lengths.map(() => 50 + Math.floor(replay() * 351)));
    expect(new Set(lengths).size).toBeGreaterThan(1);
    expect(proxy.stats.cuts).toBe(4);
  });
});

describe('stall', () => {
  it('keeps the sockets open without forwarding until the proxy closes', async () => {
    const target = await server(sendOnConnect(patternBytes(100)));
    let forwardedAtStall = -1;
    const proxy = await createFaultProxy({
      target: { host: '127.0.0.1', port: target.port },
      plan: [stall({ afterBytes: 40 })],
      onEvent: (event) => {
        if (event.type === 'stall') forwardedAtStall = proxy.stats.bytesDown;
      },
    });
    const stalled = proxy.waitForEvent('stall');
    const client = connectClient(proxy.port);
    expect(await stalled).toMatchObject({ afterBytes: 40, forMs: undefined });
    await client.untilReceived(40);
    expect(client.socket.destroyed).toBe(false);
    expect(client.socket.readyState).toBe('open');
    await proxy.close();
    const result = await client.closed;
    expect(forwardedAtStall).toBe(40);
    expect(result.bytes.toString()).toBe(patternBytes(40).toString());
    expect(proxy.stats).toMatchObject({ stalls: 1, bytesDown: 40, active: 0 });
  });

  it('resumes after forMs and then delivers everything, in order', async () => {
    const target = await server(sendOnConnect(patternBytes(100)));
    const forwardedAt: Record<string, number> = {};
    const proxy = await proxyTo(target, {
      plan: [stall({ afterBytes: 40, forMs: 30 })],
      onEvent: (event) => {
        forwardedAt[event.type] = proxy.stats.bytesDown;
      },
    });
    const result = await connectClient(proxy.port).closed;
    expect(result.bytes.toString()).toBe(patternBytes(100).toString());
    expect(forwardedAt).toMatchObject({ stall: 40, resume: 40 });
  });

  it('stalls upstream: the target gets nothing past the mark while stalled', async () => {
    const received: Buffer[] = [];
    const target = await server((socket) => socket.on('data', (chunk: Buffer) => received.push(chunk)));
    const proxy = await proxyTo(target, { plan: [stall({ afterBytes: 5, direction: 'up' })] });
    const stalled = proxy.waitForEvent('stall');
    connectClient(proxy.port, { send: patternBytes(30) });
    await stalled;
    await proxy.close();
    expect(proxy.stats.bytesUp).toBe(5);
  });
});

describe('refuse', () => {
  it('resets the connection without dialling the target', async () => {
    const target = await server(sendOnConnect('hello'));
    const proxy = await proxyTo(target, { plan: (index) => (index === 0 ? [refuse()] : []) });
    const refused = await connectClient(proxy.port).closed;
    expect(refused.bytes.length).toBe(0);
    expect(refused.error?.code).toBe('ECONNRESET');
    const next = await connectClient(proxy.port).closed;
    expect(next.bytes.toString()).toBe('hello');
    expect(target.sockets.length).toBe(1);
    expect(proxy.stats).toMatchObject({ connections: 2, refused: 1 });
  });
});

describe('throttle and delay', () => {
  it('throttles into rate-sized slices and finishes after an unthrottled connection started later', async () => {
    const payload = patternBytes(2000);
    const target = await server(sendOnConnect(payload));
    // 10 000 B/s → 500-byte slices every 50 ms, so 2000 bytes take at least 150 ms.
    const proxy = await proxyTo(target, { plan: (index) => (index === 0 ? [throttle(10_000)] : []) });
    const finished: string[] = [];
    const throttled = connectClient(proxy.port).closed.then((result) => {
      finished.push('throttled');
      return result;
    });
    await proxy.waitForEvent('connection');
    const clean = await connectClient(proxy.port).closed;
    finished.push('clean');
    const slow = await throttled;
    expect(finished).toEqual(['clean', 'throttled']);
    expect(slow.bytes.equals(payload)).toBe(true);
    expect(clean.bytes.equals(payload)).toBe(true);
    expect(proxy.connections[0]?.writesDown).toBeGreaterThanOrEqual(4);
    expect(proxy.connections[1]?.writesDown).toBeLessThan(4);
  });

  it('delays each chunk, keeping order, so a later undelayed connection answers first', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target, { plan: (index) => (index === 0 ? [delay(150)] : []) });
    const finished: string[] = [];
    const delayed = connectClient(proxy.port, { send: 'first', end: true }).closed.then((result) => {
      finished.push('delayed');
      return result;
    });
    await proxy.waitForEvent('connection');
    const clean = await connectClient(proxy.port, { send: 'second', end: true }).closed;
    finished.push('clean');
    expect((await delayed).bytes.toString()).toBe('first');
    expect(clean.bytes.toString()).toBe('second');
    expect(finished).toEqual(['clean', 'delayed']);
  });
});

describe('plans, stats and lifecycle', () => {
  it('applies a per-connection plan function, with the client address, and setPlan for new connections', async () => {
    const target = await server(sendOnConnect(patternBytes(60)));
    const infos: unknown[] = [];
    const proxy = await proxyTo(target, {
      plan: (index, info) => {
        infos.push(info);
        return index % 2 === 0 ? [cutAfterBytes(5 + index)] : [];
      },
    });
    const lengths: number[] = [];
    for (let connection = 0; connection < 3; connection += 1) {
      lengths.push((await connectClient(proxy.port).closed).bytes.length);
    }
    proxy.setPlan([cutAfterBytes(1)]);
    lengths.push((await connectClient(proxy.port).closed).bytes.length);
    expect(lengths).toEqual([5, 60, 7, 1]);
    expect(infos[1]).toMatchObject({ index: 1, remoteAddress: '127.0.0.1' });
    expect(proxy.connections.map((connection) => connection.faults)).toEqual([
      ['cutAfterBytes(5, down)'],
      [],
      ['cutAfterBytes(7, down)'],
      ['cutAfterBytes(1, down)'],
    ]);
    expect(proxy.stats).toMatchObject({ connections: 4, cuts: 3, bytesDown: 5 + 60 + 7 + 1 });
  });

  it('reports a target that does not answer and closes the client', async () => {
    const gone = await startTcpServer(() => {});
    await gone.close();
    const proxy = await proxyTo(gone);
    const failed = proxy.waitForEvent('upstream-error');
    const result = await connectClient(proxy.port).closed;
    expect(result.bytes.length).toBe(0);
    expect((await failed).code).toBe('ECONNREFUSED');
  });

  it('closes with stalled and delayed connections open and leaves no timer behind', async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
    const target = await server(sendOnConnect(patternBytes(100)));
    const proxy = await createFaultProxy({
      target: { host: '127.0.0.1', port: target.port },
      plan: (index) => (index === 0 ? [stall({ afterBytes: 10, forMs: 60_000 })] : [delay(60_000)]),
    });
    const stalled = proxy.waitForEvent('stall');
    const stalledClient = connectClient(proxy.port);
    await stalled;
    const delayedClient = connectClient(proxy.port);
    await proxy.waitForEvent('connection');
    const pending = proxy.waitForEvent('close').catch((error: unknown) => error);
    await proxy.close();
    expect(await pending).toMatchObject({ code: 'proxy_closed' });
    await Promise.all([stalledClient.closed, delayedClient.closed]);
    expect(proxy.stats.active).toBe(0);
    expect(process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length).toBe(timersBefore);
  });
});

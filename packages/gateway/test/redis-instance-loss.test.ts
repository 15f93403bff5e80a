import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@spool/client';
import { type RedisServer, startRedisServer } from '@spool/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simText } from '../src/index.js';
import {
  completeEvents,
  expectExactStream,
  type ParsedEvent,
  parseSse,
  postChat,
  rawRequest,
  simStats,
  spawnSim,
  spawnSpool,
  textOf,
  writeSimGatewayConfig,
} from './helpers.js';

const LOST_AFTER_MS = 1000;
const messages = [{ role: 'user' as const, content: 'Survive the instance that generates me.' }];
const request = { model: 'sim', messages, stream: true };
const expected = simText({ model: 'sim', messages });

type Instance = { child: ChildProcess; url: string; output: () => string };

/** A TCP load balancer in front of the instances: every new connection goes to `route`'s port. */
async function startBalancer(): Promise<{ url: string; route(url: string): void; close(): Promise<void> }> {
  let targetPort = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    route: (url) => {
      targetPort = Number(new URL(url).port);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** POSTs a chat request and resolves once `count` complete events arrived, the response left open. */
function postUntilEvents(
  url: string,
  headers: Record<string, string>,
  count: number,
): Promise<{ streamId: string; close(): void }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
    });
    outgoing.on('error', () => {});
    outgoing.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('error', () => {});
      response.on('data', (chunk: string) => {
        body += chunk;
        if (completeEvents(body).events.length >= count) {
          resolve({ streamId: String(response.headers['x-stream-id']), close: () => outgoing.destroy() });
        }
      });
      response.on('end', () => reject(new Error(`the stream ended before ${count} events: ${body}`)));
    });
    outgoing.end(JSON.stringify(request));
  });
}

const countLostLogs = (instance: Instance) => instance.output().split('generation lost').length - 1;

describe('two gateway processes on one redis-server when the generating one is SIGKILLed', () => {
  let redis: RedisServer;
  let sim: { child: ChildProcess; baseURL: string };
  let configPath: string;

  const spawnInstance = () => spawnSpool(['serve', '--config', configPath, '--port', '0']);

  beforeAll(async () => {
    [redis, sim] = await Promise.all([startRedisServer(), spawnSim()]);
    configPath = await writeSimGatewayConfig(
      await mkdtemp(join(tmpdir(), 'spool-loss-')),
      'spool',
      sim.baseURL,
      {
        store: 'redis',
        redisUrl: redis.url,
        keyPrefix: `loss${Date.now()}:`,
        lostAfterMs: LOST_AFTER_MS,
      },
    );
  });

  afterAll(async () => {
    if (sim.child.exitCode === null) {
      sim.child.kill('SIGTERM');
      await once(sim.child, 'exit');
    }
    await redis.stop();
  });

  async function stopAll(...instances: Instance[]): Promise<void> {
    await Promise.all(
      instances.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      }),
    );
  }

  it('ends the stream within the liveness bound with one numbered generation_lost event, replays it, and starts the same key afresh', async () => {
    const [a, b] = await Promise.all([spawnInstance(), spawnInstance()]);
    try {
      const before = (await simStats(sim.baseURL)).streams;
      const key = `lost-${Date.now()}`;
      // B generates a stream of its own all along: its instance lives, so it must not be taken for lost.
      const bystander = postChat(b.url, request, { 'x-spool-fault': 'tps=12' });
      const { streamId, close } = await postUntilEvents(
        a.url,
        { 'idempotency-key': key, 'x-spool-fault': 'tps=20' },
        3,
      );
      close();

      a.child.kill('SIGKILL');
      await once(a.child, 'exit');
      const killedAt = performance.now();

      const resumed = await rawRequest(`${b.url}/v1/streams/${streamId}`, {
        headers: { 'last-event-id': '2' },
      });
      const waitedMs = performance.now() - killedAt;
      expect(resumed.status).toBe(200);
      const events = parseSse(resumed.body);
      const lost = events.at(-1) as ParsedEvent;
      expect(JSON.parse(lost.data).error).toMatchObject({ code: 'generation_lost', type: 'server_error' });
      // Numbered past the events A stored (skipping ids A may have sent its own clients unstored),
      // with nothing unnumbered anywhere.
      const stored = events.slice(0, -1);
      expect(stored.map((event) => Number(event.id))).toEqual(stored.map((_, index) => index + 3));
      expect(Number(lost.id)).toBeGreaterThan(Number(stored.at(-1)?.id ?? 2) + 1);
      // The bound: lostAfterMs after A's last liveness mark, plus a reader's liveness period.
      expect(waitedMs).toBeLessThan(LOST_AFTER_MS * 2.5);

      // Terminal: a later resume replays up to and including it, then a resume past it is 204.
      const replay = await rawRequest(`${b.url}/v1/streams/${streamId}`);
      const replayed = parseSse(replay.body);
      expect(replayed.at(-1)).toEqual(lost);
      expect(replayed.slice(0, -1).map((event) => Number(event.id))).toEqual(
        replayed.slice(0, -1).map((_, index) => index + 1),
      );
      expect(expected.startsWith(textOf(replayed.slice(0, -1)))).toBe(true);
      const past = await rawRequest(`${b.url}/v1/streams/${streamId}`, {
        headers: { 'last-event-id': String(lost.id) },
      });
      expect(past.status).toBe(204);

      // @spool/client attached to that stream by id has no request to start again: the error is final.
      const resumedByClient = createClient({
        baseURL: `${b.url}/v1`,
        retry: { initialDelayMs: 1, maxAttempts: 5 },
      }).chat.resume(streamId, { lastEventId: 2 });
      await expect(resumedByClient.text()).rejects.toMatchObject({ code: 'generation_lost' });
      expect(resumedByClient.stats().reconnects).toBe(0);

      // The same key starts a fresh generation: a new stream id, served whole from id 1.
      const retried = await postChat(b.url, request, { 'idempotency-key': key, 'last-event-id': '2' });
      expect(retried.status).toBe(200);
      expect(retried.headers['x-stream-id']).not.toBe(streamId);
      expectExactStream(parseSse(retried.body), expected);
      // And a second retry attaches to it rather than starting a third.
      const again = await postChat(b.url, request, { 'idempotency-key': key });
      expect(again.headers['x-stream-id']).toBe(retried.headers['x-stream-id']);

      expectExactStream(parseSse((await bystander).body), expected);
      // A's generation, the bystander, the fresh one.
      expect((await simStats(sim.baseURL)).streams - before).toBe(3);
      // Logged once (by B, which ended it), not per resume.
      expect(countLostLogs(b)).toBe(1);
      expect(b.output()).not.toMatch(/spool read failed/);
    } finally {
      await stopAll(a, b);
    }
  });

  it('lets @spool/client behind a load balancer restart a stream whose instance died, announcing restarted, with the exact text', async () => {
    const [a, b] = await Promise.all([spawnInstance(), spawnInstance()]);
    const balancer = await startBalancer();
    try {
      balancer.route(a.url);
      const client = createClient({
        baseURL: `${balancer.url}/v1`,
        retry: { initialDelayMs: 1, maxDelayMs: 50, maxAttempts: 20 },
      });
      const stream = client.chat.stream(
        { model: 'sim', messages },
        { headers: { 'x-spool-fault': 'tps=20' } },
      );
      const statuses: string[] = [];
      let text = '';
      let deltas = 0;
      for await (const event of stream) {
        if (event.type === 'text-delta') {
          text += event.delta;
          if (++deltas === 3) {
            // A dies; the balancer sends every new connection to B.
            balancer.route(b.url);
            a.child.kill('SIGKILL');
          }
        } else if (event.type === 'restarted') {
          statuses.push(event.type);
          text = '';
        } else if (event.type === 'reconnecting') {
          statuses.push(`reconnecting ${event.reason.code}`);
        } else if (event.type === 'resumed') {
          statuses.push(event.type);
        }
      }
      expect(statuses).toContain('resumed');
      expect(statuses.filter((status) => status === 'restarted')).toHaveLength(1);
      expect(text).toBe(expected);
      expect(await stream.text()).toBe(expected);
    } finally {
      await balancer.close();
      await stopAll(a, b);
    }
  });
});

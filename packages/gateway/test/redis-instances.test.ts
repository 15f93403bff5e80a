import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisServer, startRedisServer } from '@spool/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import {
  completeEvents,
  expectExactStream,
  type ParsedEvent,
  parseSse,
  postChat,
  rawRequest,
  requestAndCut,
  simStats,
  spawnSim,
  spawnSpool,
  startTestGateway,
  textOf,
  writeSimGatewayConfig,
} from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Resume me on another instance.' }];
const request = { model: 'sim', messages, stream: true };
const expected = simText({ model: 'sim', messages });

const expectExact = (events: readonly ParsedEvent[], text = expected) => expectExactStream(events, text);

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

describe('two gateway processes sharing one redis-server', () => {
  let redis: RedisServer;
  let sim: { child: ChildProcess; baseURL: string };
  let a: { child: ChildProcess; url: string };
  let b: { child: ChildProcess; url: string };
  let configPath: string;

  beforeAll(async () => {
    [redis, sim] = await Promise.all([startRedisServer(), spawnSim()]);
    configPath = await writeSimGatewayConfig(
      await mkdtemp(join(tmpdir(), 'spool-redis-')),
      'spool',
      sim.baseURL,
      {
        store: 'redis',
        redisUrl: redis.url,
        keyPrefix: `it${Date.now()}:`,
      },
    );
    [a, b] = await Promise.all([
      spawnSpool(['serve', '--config', configPath, '--port', '0']),
      spawnSpool(['serve', '--config', configPath, '--port', '0']),
    ]);
  });

  afterAll(async () => {
    await Promise.all([stop(a.child), stop(b.child), stop(sim.child)]);
    await redis.stop();
  });

  it('resumes on B, exactly, a stream A is still generating, with one upstream generation', async () => {
    const before = (await simStats(sim.baseURL)).chatCompletions;
    const cut = await requestAndCut(
      `${a.url}/v1/chat/completions`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-spool-fault': 'tps=100' },
        body: JSON.stringify(request),
      },
      500,
    );
    const { events, lastId } = completeEvents(cut.body);
    expect(lastId).toBeGreaterThan(0);
    const resumed = await rawRequest(`${b.url}/v1/streams/${cut.headers['x-stream-id']}`, {
      headers: { 'last-event-id': String(lastId) },
    });
    expect(resumed.status).toBe(200);
    expectExact([...events, ...parseSse(resumed.body)]);
    expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
  });

  it('attaches a POST retried on B with the same Idempotency-Key to the generation on A', async () => {
    const before = (await simStats(sim.baseURL)).chatCompletions;
    const headers = {
      'content-type': 'application/json',
      'idempotency-key': `cross-${Date.now()}`,
      'x-spool-fault': 'tps=200',
    };
    const cut = await requestAndCut(
      `${a.url}/v1/chat/completions`,
      { method: 'POST', headers, body: JSON.stringify(request) },
      300,
    );
    const { events, lastId } = completeEvents(cut.body);
    const retried = await postChat(b.url, request, { ...headers, 'last-event-id': String(lastId) });
    expect(retried.headers['x-stream-id']).toBe(cut.headers['x-stream-id']);
    expectExact([...events, ...parseSse(retried.body)]);
    expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
  });

  it('starts one generation per Idempotency-Key when three POSTs of it race across A and B', async () => {
    const keys = 300;
    const before = (await simStats(sim.baseURL)).streams;
    const run = `race-${Date.now()}`;
    const raceKey = async (key: number) => {
      const headers = { 'idempotency-key': `${run}-${key}`, 'x-spool-fault': 'tps=0' };
      // Two on one instance and one on the other, alternating which instance gets two.
      const targets = key % 2 === 0 ? [a.url, b.url, a.url] : [b.url, a.url, b.url];
      const responses = await Promise.all(targets.map((url) => postChat(url, request, headers)));
      const exact = (body: string) => {
        const events = parseSse(body);
        return (
          events.every((event, index) => Number(event.id) === index + 1) &&
          events.at(-1)?.data === '[DONE]' &&
          textOf(events) === expected
        );
      };
      const inexact = responses.filter((response) => response.status !== 200 || !exact(response.body));
      return {
        streamIds: new Set(responses.map((response) => response.headers['x-stream-id'])),
        inexact: inexact.map((response) => `${response.status} ${response.body.slice(-300)}`),
      };
    };
    // Fifty keys at a time (150 POSTs): each key's three still race, and a loaded machine is not
    // asked for 900 streams at once.
    const outcomes: Array<Awaited<ReturnType<typeof raceKey>>> = [];
    for (let first = 0; first < keys; first += 50) {
      const batch = Array.from({ length: Math.min(50, keys - first) }, (_, index) => raceKey(first + index));
      outcomes.push(...(await Promise.all(batch)));
    }
    expect(outcomes.flatMap((outcome) => outcome.inexact)).toEqual([]);
    const keysWithSeveralStreams = outcomes.filter((outcome) => outcome.streamIds.size !== 1).length;
    expect(keysWithSeveralStreams).toBe(0);
    expect((await simStats(sim.baseURL)).streams - before).toBe(keys);
  });

  it('stops a generation on A when B receives the DELETE', async () => {
    const cut = await requestAndCut(
      `${a.url}/v1/chat/completions`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-spool-fault': 'stall-after=2' },
        body: JSON.stringify(request),
      },
      100,
    );
    const streamId = cut.headers['x-stream-id'] as string;
    const reader = rawRequest(`${a.url}/v1/streams/${streamId}`);
    const deleted = await rawRequest(`${b.url}/v1/streams/${streamId}`, { method: 'DELETE' });
    expect(JSON.parse(deleted.body).deleted).toBe(true);
    const events = parseSse((await reader).body);
    expect(JSON.parse(events.at(-1)?.data ?? '{}').error.code).toBe('stream_cancelled');
  });

  it('on SIGTERM hands its readers off (they resume on B) and finishes the generation before exiting', async () => {
    const c = await spawnSpool(['serve', '--config', configPath, '--port', '0']);
    const before = (await simStats(sim.baseURL)).chatCompletions;
    const body: string[] = [];
    const ended = new Promise<{ streamId: string; text: string }>((resolve, reject) => {
      const client = httpRequest(`${c.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-spool-fault': 'tps=60' },
      });
      client.on('error', reject);
      client.on('response', (response) => {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body.push(chunk);
          if (body.length === 3) c.child.kill('SIGTERM');
        });
        response.on('end', () =>
          resolve({ streamId: String(response.headers['x-stream-id']), text: body.join('') }),
        );
      });
      client.end(JSON.stringify(request));
    });
    const { streamId, text } = await ended;
    const { events, lastId } = completeEvents(text);
    expect(events.at(-1)?.data).not.toBe('[DONE]');
    const resumed = await rawRequest(`${b.url}/v1/streams/${streamId}`, {
      headers: { 'last-event-id': String(lastId) },
    });
    expectExact([...events, ...parseSse(resumed.body)]);
    const [code] = (await once(c.child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
  });

  it('replays on B, exactly, after A has finished and exited', async () => {
    const before = (await simStats(sim.baseURL)).chatCompletions;
    const first = await postChat(a.url, request);
    expectExact(parseSse(first.body));
    await stop(a.child);
    const replay = await rawRequest(`${b.url}/v1/streams/${first.headers['x-stream-id']}`);
    expect(replay.status).toBe(200);
    expectExact(parseSse(replay.body));
    const partial = await rawRequest(`${b.url}/v1/streams/${first.headers['x-stream-id']}`, {
      headers: { 'last-event-id': '5' },
    });
    expect(parseSse(partial.body)).toEqual(parseSse(first.body).slice(5));
    expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
  });
});

describe('when Redis becomes unreachable', () => {
  let redis: RedisServer;
  let gateway: Gateway;

  beforeAll(async () => {
    redis = await startRedisServer();
    gateway = await startTestGateway({
      spool: { store: 'redis', redisUrl: redis.url, keyPrefix: `down${Date.now()}:` },
    });
  });
  afterAll(async () => {
    await gateway.close();
    await redis.stop();
  });

  it('answers 503 store_unavailable promptly instead of hanging, and /ready says why', async () => {
    const ok = await postChat(gateway.url, request);
    expect(ok.status).toBe(200);
    const streamId = ok.headers['x-stream-id'];
    await redis.kill();
    const started = performance.now();
    const post = await postChat(gateway.url, request);
    expect(post.status).toBe(503);
    expect(JSON.parse(post.body).error.code).toBe('store_unavailable');
    const get = await rawRequest(`${gateway.url}/v1/streams/${streamId}`);
    expect(get.status).toBe(503);
    const ready = await rawRequest(`${gateway.url}/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body).checks['store:redis']).not.toBe('ok');
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('refuses to start against a Redis that cannot be reached, naming it', async () => {
    await expect(
      startTestGateway({ spool: { store: 'redis', redisUrl: 'redis://127.0.0.1:1' } }),
    ).rejects.toThrow(/Cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/);
  });
});

import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisServer, seededRandom, startRedisServer } from '@spool/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simText } from '../src/index.js';
import {
  completeEvents,
  type ParsedEvent,
  requestAndCut,
  simStats,
  spawnSim,
  spawnSpool,
  textOf,
  writeSimGatewayConfig,
} from './helpers.js';

// Replay a run with SPOOL_EXACTLY_ONCE_SEED=<seed printed below>.
const SEED = Number(process.env.SPOOL_EXACTLY_ONCE_SEED ?? Math.floor(Math.random() * 2 ** 31));
// Per store (memory, and two Redis instances): ~12 s each on an idle 2-core machine.
const STREAMS = Number(process.env.SPOOL_EXACTLY_ONCE_STREAMS ?? 2000);
const CONCURRENCY = 32;
/** Share of streams whose first POST is sent two or three times at once (a retry racing the first). */
const RACING_SHARE = 0.25;
/** Reads of one stream after its planned cuts before it counts as not finishing. */
const MAX_CLEAN_READS = 5;
const WORDS = ['tunnel', 'train', 'wifi', 'elevator', 'roaming', 'laptop', 'lid', 'proxy', 'spool', 'resume'];

/** One stream: its request, the POSTs that start it at once, and where each later read is cut. */
interface StreamPlan {
  index: number;
  key: string;
  prompt: string;
  /** Tokens the sim generates (kept short: the per-stream cost is in its requests, not its length). */
  maxTokens: number;
  /** `tps=0` (all at once, so cuts land in a replay) or a pace (cuts land mid-generation). */
  pace: string;
  /** The first POSTs, sent together with the same key: which instance, and the byte each is cut at. */
  racers: Array<{ instance: number; cutAt: number }>;
  /** Each later read: GET by stream id or the same POST again, on which instance, cut where. */
  resumes: Array<{ via: 'get' | 'post'; instance: number; cutAt: number }>;
}

function drawPlans(seed: number, streams: number, instances: number, run: string): StreamPlan[] {
  const random = seededRandom(seed);
  const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const instance = () => between(0, instances - 1);
  // An event is ~150 bytes and a stream 1-3.5 KB: most cuts land inside it, some past its end.
  const cutAt = () => between(0, 3_500);
  return Array.from({ length: streams }, (_, index) => {
    const words = Array.from({ length: between(2, 6) }, () => WORDS[between(0, WORDS.length - 1)]);
    const racers = random() < RACING_SHARE ? between(2, 3) : 1;
    return {
      index,
      key: `${run}-${index}`,
      prompt: `${index} ${words.join(' ')}`,
      maxTokens: between(6, 20),
      pace: random() < 0.5 ? 'tps=0' : `tps=${between(300, 1000)}`,
      racers: Array.from({ length: racers }, () => ({ instance: instance(), cutAt: cutAt() })),
      resumes: Array.from({ length: between(0, 2) }, () => ({
        via: random() < 0.7 ? ('get' as const) : ('post' as const),
        instance: instance(),
        cutAt: cutAt(),
      })),
    };
  });
}

/** What one stream's reads added up to. */
interface StreamOutcome {
  plan: StreamPlan;
  streamIds: Set<string>;
  events: ParsedEvent[];
  lost: number;
  duplicated: number;
  /** Events of a racing POST that differ from the stream's events under the same id. */
  mismatched: number;
  cuts: number;
  exact: boolean;
}

async function runStream(plan: StreamPlan, instances: readonly string[]): Promise<StreamOutcome> {
  const request = {
    model: 'sim',
    messages: [{ role: 'user' as const, content: plan.prompt }],
    max_tokens: plan.maxTokens,
    stream: true,
  };
  const body = JSON.stringify(request);
  const headers = {
    'content-type': 'application/json',
    'idempotency-key': plan.key,
    'x-spool-fault': plan.pace,
  };
  const post = (instance: number) => `${instances[instance]}/v1/chat/completions`;
  const first = await Promise.all(
    plan.racers.map(({ instance, cutAt }) =>
      requestAndCut(post(instance), { method: 'POST', headers, body }, cutAt),
    ),
  );
  const streamIds = new Set(first.map((response) => String(response.headers['x-stream-id'])));
  const [streamId] = streamIds;
  let cuts = plan.racers.length;
  const events = completeEvents(first[0]?.body ?? '').events;
  let mismatched = 0;
  for (const racer of first.slice(1)) {
    for (const event of completeEvents(racer.body).events) {
      const same = events[Number(event.id) - 1];
      if (same !== undefined && (same.id !== event.id || same.data !== event.data)) mismatched++;
    }
  }
  let lost = 0;
  let duplicated = 0;
  let lastId = Number(events.at(-1)?.id ?? 0);
  const reads = [...plan.resumes, ...Array.from({ length: MAX_CLEAN_READS }, () => undefined)];
  for (const [index, resume] of reads.entries()) {
    if (events.at(-1)?.data === '[DONE]') break;
    const via = resume?.via ?? 'get';
    const instance = resume?.instance ?? index % instances.length;
    const resumeHeaders = { ...headers, 'last-event-id': String(lastId) };
    const response = await requestAndCut(
      via === 'get' ? `${instances[instance]}/v1/streams/${streamId}` : post(instance),
      via === 'get' ? { headers: resumeHeaders } : { method: 'POST', headers: resumeHeaders, body },
      resume?.cutAt ?? Number.POSITIVE_INFINITY,
    );
    if (resume) cuts++;
    if (response.status === 204) break;
    for (const event of completeEvents(response.body).events) {
      const id = Number(event.id);
      if (id <= lastId) duplicated++;
      else {
        lost += id - lastId - 1;
        lastId = id;
      }
      events.push(event);
    }
  }
  const expected = simText(request);
  const exact =
    events.every((event, index) => Number(event.id) === index + 1) &&
    events.at(-1)?.data === '[DONE]' &&
    textOf(events) === expected;
  return { plan, streamIds, events, lost, duplicated, mismatched, cuts, exact };
}

async function runAll(plans: StreamPlan[], instances: readonly string[]): Promise<StreamOutcome[]> {
  const outcomes: StreamOutcome[] = new Array(plans.length);
  let next = 0;
  const worker = async () => {
    while (next < plans.length) {
      const plan = plans[next++] as StreamPlan;
      outcomes[plan.index] = await runStream(plan, instances);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return outcomes;
}

describe(`exactly once: ${STREAMS} streams with random cuts and racing same-key POSTs (seed ${SEED})`, () => {
  let redis: RedisServer;
  let sim: { child: ChildProcess; baseURL: string };
  let directory: string;
  const children: ChildProcess[] = [];

  const spawnGateway = async (name: string, spool: Record<string, string>) => {
    const configPath = await writeSimGatewayConfig(directory, name, sim.baseURL, spool);
    const gateway = await spawnSpool(['serve', '--config', configPath, '--port', '0']);
    children.push(gateway.child);
    return gateway.url;
  };

  beforeAll(async () => {
    [redis, sim] = await Promise.all([startRedisServer(), spawnSim()]);
    children.push(sim.child);
    directory = await mkdtemp(join(tmpdir(), 'spool-exactly-once-'));
  });

  afterAll(async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      }),
    );
    await redis.stop();
  });

  async function check(store: string, instances: readonly string[]): Promise<void> {
    const plans = drawPlans(SEED, STREAMS, instances.length, `${store}-${SEED}-${Date.now()}`);
    const before = (await simStats(sim.baseURL)).streams;
    const startedAt = performance.now();
    const outcomes = await runAll(plans, instances);
    const elapsedMs = performance.now() - startedAt;
    const generations = (await simStats(sim.baseURL)).streams - before;
    const sum = (pick: (outcome: StreamOutcome) => number) =>
      outcomes.reduce((total, outcome) => total + pick(outcome), 0);
    const totals = {
      lost: sum((outcome) => outcome.lost),
      duplicated: sum((outcome) => outcome.duplicated),
      mismatched: sum((outcome) => outcome.mismatched),
      keysWithSeveralStreams: outcomes.filter((outcome) => outcome.streamIds.size !== 1).length,
      inexact: outcomes.filter((outcome) => !outcome.exact).map((outcome) => outcome.plan.index),
      generations,
    };
    console.log(
      `exactly once on ${store} (${instances.length} instance(s), seed ${SEED}): ${STREAMS} streams, ` +
        `${sum((outcome) => outcome.cuts)} cut reads, ${plans.filter((plan) => plan.racers.length > 1).length} racing keys, ` +
        `${generations} generations, ${(elapsedMs / 1000).toFixed(1)} s`,
    );
    expect(totals, `seed ${SEED}`).toEqual({
      lost: 0,
      duplicated: 0,
      mismatched: 0,
      keysWithSeveralStreams: 0,
      inexact: [],
      generations: STREAMS,
    });
  }

  it('on the memory store: every stream exact, one generation per key', async () => {
    const url = await spawnGateway('memory', { store: 'memory' });
    await check('memory', [url]);
  }, 120_000);

  it('on two Redis instances: every stream exact wherever each read lands, one generation per key', async () => {
    const spool = { store: 'redis', redisUrl: redis.url, keyPrefix: `once${Date.now()}:` };
    const urls = await Promise.all([spawnGateway('redis-a', spool), spawnGateway('redis-b', spool)]);
    await check('redis', urls);
  }, 120_000);
});

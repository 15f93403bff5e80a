import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, type MemoryStore, simText } from '../src/index.js';
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
  startTestGateway,
} from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Tell me why resumable streams matter.' }];
const request = { model: 'sim', messages, stream: true };
const expected = simText({ model: 'sim', messages });

/** Checks a reassembled stream: ids 1..n with no gap and no duplicate, the exact text, [DONE] last. */
const expectExact = (events: readonly ParsedEvent[], text = expected) => expectExactStream(events, text);

let sim: { child: ChildProcess; baseURL: string };
let gateway: Gateway;
let reference: string;

beforeAll(async () => {
  sim = await spawnSim();
  gateway = await startTestGateway({
    providers: { upstream: { type: 'openai', baseURL: sim.baseURL, passHeaders: ['x-spool-fault'] } },
    models: [{ match: '*', provider: 'upstream' }],
    spool: { retentionMs: 60_000 },
  });
  reference = (await postChat(gateway.url, request)).body;
});

afterAll(async () => {
  await gateway.close();
  sim.child.kill('SIGTERM');
  await once(sim.child, 'exit');
});

/** Byte offsets that land everywhere that matters: at an event's start, after its id line, before its blank line. */
function cutPoints(body: string): number[] {
  const points = new Set<number>();
  const bytes = Buffer.from(body);
  for (let index = 0; index < bytes.length; index++) {
    if (bytes[index] === 0x0a) {
      points.add(index);
      points.add(index + 1);
    }
  }
  return [...points].filter((point) => point > 0 && point < bytes.length).sort((a, b) => a - b);
}

describe('resuming a cut stream from the spool (memory store)', () => {
  it('resumes via GET /v1/streams/{id} after a cut at every line boundary, exact and with one generation each', async () => {
    const points = cutPoints(reference);
    expect(points.length).toBeGreaterThan(60);
    for (const cutAt of points) {
      const before = (await simStats(sim.baseURL)).chatCompletions;
      const first = await requestAndCut(
        `${gateway.url}/v1/chat/completions`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) },
        cutAt,
      );
      const { events, lastId } = completeEvents(first.body);
      const resumed = await rawRequest(`${gateway.url}/v1/streams/${first.headers['x-stream-id']}`, {
        headers: { 'last-event-id': String(lastId) },
      });
      expect(resumed.status).toBe(200);
      expectExact([...events, ...parseSse(resumed.body)]);
      expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
    }
  });

  it('resumes via a retried POST with the same Idempotency-Key and Last-Event-ID, with no second generation', async () => {
    const points = cutPoints(reference).filter((_, index) => index % 3 === 0);
    for (const [index, cutAt] of points.entries()) {
      const before = (await simStats(sim.baseURL)).chatCompletions;
      const headers = {
        'content-type': 'application/json',
        'idempotency-key': `post-resume-${index}-${Date.now()}`,
      };
      const first = await requestAndCut(
        `${gateway.url}/v1/chat/completions`,
        { method: 'POST', headers, body: JSON.stringify(request) },
        cutAt,
      );
      const { events, lastId } = completeEvents(first.body);
      const retried = await postChat(gateway.url, request, { ...headers, 'last-event-id': String(lastId) });
      expect(retried.headers['x-stream-id']).toBe(first.headers['x-stream-id']);
      expectExact([...events, ...parseSse(retried.body)]);
      expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
    }
  });

  it('replays then tails a stream that is still generating, to several readers at once, identically', async () => {
    const paced = { 'content-type': 'application/json', 'x-spool-fault': 'tps=400' };
    const first = await requestAndCut(
      `${gateway.url}/v1/chat/completions`,
      { method: 'POST', headers: paced, body: JSON.stringify(request) },
      400,
    );
    const { events, lastId } = completeEvents(first.body);
    const streamUrl = `${gateway.url}/v1/streams/${first.headers['x-stream-id']}`;
    const readers = await Promise.all([
      rawRequest(streamUrl, { headers: { 'last-event-id': String(lastId) } }),
      rawRequest(`${streamUrl}?last_event_id=${lastId}`),
      rawRequest(streamUrl),
    ]);
    expectExact([...events, ...parseSse(readers[0].body)]);
    expect(parseSse(readers[1].body)).toEqual(parseSse(readers[0].body));
    expectExact(parseSse(readers[2].body));
  });

  it('property: any sequence of cuts over any stream length yields the exact text from one generation', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 4 }),
        async (maxTokens, cutFractions) => {
          const body = { ...request, max_tokens: maxTokens, seed: maxTokens };
          const text = simText({ model: 'sim', messages, seed: maxTokens, max_tokens: maxTokens });
          const before = (await simStats(sim.baseURL)).chatCompletions;
          const key = `prop-${maxTokens}-${Math.random()}`;
          const headers = { 'content-type': 'application/json', 'idempotency-key': key };
          const collected: ParsedEvent[] = [];
          let lastId = 0;
          let streamId: string | undefined;
          for (const [index, fraction] of cutFractions.entries()) {
            const url = streamId
              ? `${gateway.url}/v1/streams/${streamId}`
              : `${gateway.url}/v1/chat/completions`;
            const useGet = streamId !== undefined && index % 2 === 1;
            const cut = await requestAndCut(
              useGet ? url : `${gateway.url}/v1/chat/completions`,
              useGet
                ? { headers: { 'last-event-id': String(lastId) } }
                : {
                    method: 'POST',
                    headers: { ...headers, 'last-event-id': String(lastId) },
                    body: JSON.stringify(body),
                  },
              Math.floor(fraction * 4000),
            );
            streamId ??= cut.headers['x-stream-id'] as string;
            const complete = completeEvents(cut.body);
            collected.push(...complete.events);
            if (complete.events.length > 0) lastId = complete.lastId;
          }
          const rest = await rawRequest(`${gateway.url}/v1/streams/${streamId}`, {
            headers: { 'last-event-id': String(lastId) },
          });
          collected.push(...parseSse(rest.body));
          expectExact(collected, text);
          expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('attaches concurrent POSTs with one Idempotency-Key to one generation while the upstream is still pending', async () => {
    const before = (await simStats(sim.baseURL)).chatCompletions;
    const headers = { 'idempotency-key': `pending-${Date.now()}`, 'x-spool-fault': 'ttft-ms=80' };
    const [a, b] = await Promise.all([
      postChat(gateway.url, request, headers),
      postChat(gateway.url, request, headers),
    ]);
    expect(a.headers['x-stream-id']).toBe(b.headers['x-stream-id']);
    expect(a.body).toBe(b.body);
    expectExact(parseSse(a.body));
    expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
  });

  it('lets a retry start afresh when the first attempt under its key failed before the first byte', async () => {
    const key = `retry-after-429-${Date.now()}`;
    const headers = {
      'idempotency-key': key,
      'x-spool-fault': `status=429;retry-after=1;times=1;key=${key}`,
    };
    const first = await postChat(gateway.url, request, headers);
    expect(first.status).toBe(429);
    const second = await postChat(gateway.url, request, headers);
    expect(second.status).toBe(200);
    expectExact(parseSse(second.body));
  });

  it('refuses a reused Idempotency-Key with a different body with 422', async () => {
    const headers = { 'idempotency-key': `reuse-${Date.now()}` };
    expect((await postChat(gateway.url, request, headers)).status).toBe(200);
    const response = await postChat(gateway.url, { ...request, max_tokens: 2 }, headers);
    expect(response.status).toBe(422);
    expect(JSON.parse(response.body).error).toMatchObject({
      code: 'idempotency_key_reused',
      param: 'Idempotency-Key',
    });
  });

  it('stops generation upstream on DELETE and ends every reader with a clear final event', async () => {
    const stalled = await requestAndCut(
      `${gateway.url}/v1/chat/completions`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-spool-fault': 'stall-after=3' },
        body: JSON.stringify(request),
      },
      200,
    );
    const streamId = stalled.headers['x-stream-id'] as string;
    const reader = rawRequest(`${gateway.url}/v1/streams/${streamId}`);
    expect((await simStats(sim.baseURL)).openStreams).toBe(1);
    const deleted = await rawRequest(`${gateway.url}/v1/streams/${streamId}`, { method: 'DELETE' });
    expect(JSON.parse(deleted.body)).toMatchObject({ id: streamId, deleted: true });
    const events = parseSse((await reader).body);
    expect(events.map((event) => Number(event.id))).toEqual([1, 2, 3, 4]);
    expect(JSON.parse(events[3]?.data ?? '{}').error.code).toBe('stream_cancelled');
    let open = 1;
    for (let attempt = 0; attempt < 200 && open > 0; attempt++) {
      open = (await simStats(sim.baseURL)).openStreams;
      if (open > 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(open).toBe(0);
    const again = await rawRequest(`${gateway.url}/v1/streams/${streamId}`, { method: 'DELETE' });
    expect(JSON.parse(again.body)).toMatchObject({ deleted: false, state: 'cancelled' });
  });

  it('answers 404 for an unknown stream and 400 for a malformed Last-Event-ID', async () => {
    const unknown = await rawRequest(`${gateway.url}/v1/streams/str_AAAAAAAAAAAAAAAAAAAAAAAA`);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.code).toBe('stream_not_found');
    const first = await postChat(gateway.url, request);
    const bad = await rawRequest(`${gateway.url}/v1/streams/${first.headers['x-stream-id']}`, {
      headers: { 'last-event-id': 'abc' },
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe('invalid_last_event_id');
  });
});

describe('spool bounds', () => {
  it('answers 410 once a finished stream passed its retention', async () => {
    const local = await startTestGateway({ spool: { retentionMs: 1000 } });
    try {
      const first = await postChat(local.url, request);
      const streamUrl = `${local.url}/v1/streams/${first.headers['x-stream-id']}`;
      expect((await rawRequest(streamUrl)).status).toBe(200);
      (local.context.store as MemoryStore).sweep(Date.now() + 1000);
      const expired = await rawRequest(streamUrl);
      expect(expired.status).toBe(410);
      expect(JSON.parse(expired.body).error.code).toBe('stream_expired');
    } finally {
      await local.close();
    }
  });

  it('answers 410 for a resume point the byte cap evicted, and still serves what it kept', async () => {
    const local = await startTestGateway({ spool: { maxStreamBytes: 1500 } });
    try {
      const first = await postChat(local.url, request);
      const events = parseSse(first.body);
      expectExact(events);
      const streamUrl = `${local.url}/v1/streams/${first.headers['x-stream-id']}`;
      const evicted = await rawRequest(streamUrl, { headers: { 'last-event-id': '0' } });
      expect(evicted.status).toBe(410);
      const lastFew = await rawRequest(streamUrl, {
        headers: { 'last-event-id': String(events.length - 2) },
      });
      expect(parseSse(lastFew.body)).toEqual(events.slice(-2));
    } finally {
      await local.close();
    }
  });
});

describe('stream ownership', () => {
  it("refuses another key's GET and DELETE, and serves a GET that presents only the stream id", async () => {
    const local = await startTestGateway({
      keys: [
        { name: 'alice', key: 'sk-alice-0000000000' },
        { name: 'bob', key: 'sk-bob-00000000000' },
      ],
    });
    try {
      const first = await postChat(local.url, request, { authorization: 'Bearer sk-alice-0000000000' });
      const streamUrl = `${local.url}/v1/streams/${first.headers['x-stream-id']}`;
      const asBob = await rawRequest(streamUrl, { headers: { authorization: 'Bearer sk-bob-00000000000' } });
      expect(asBob.status).toBe(403);
      expect(JSON.parse(asBob.body).error.code).toBe('stream_forbidden');
      const deleteAsBob = await rawRequest(streamUrl, {
        method: 'DELETE',
        headers: { authorization: 'Bearer sk-bob-00000000000' },
      });
      expect(deleteAsBob.status).toBe(403);
      const bare = await rawRequest(streamUrl);
      expectExact(parseSse(bare.body));
      const reusedByBob = await postChat(local.url, request, {
        authorization: 'Bearer sk-bob-00000000000',
        'idempotency-key': 'shared-key',
      });
      const reusedByAlice = await postChat(local.url, request, {
        authorization: 'Bearer sk-alice-0000000000',
        'idempotency-key': 'shared-key',
      });
      expect(reusedByBob.headers['x-stream-id']).not.toBe(reusedByAlice.headers['x-stream-id']);
    } finally {
      await local.close();
    }
  });
});

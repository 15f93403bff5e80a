import type { LongPollAnswer, StreamAccepted } from '@spool/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import {
  expectExactStream,
  type ParsedEvent,
  parseSse,
  postChat,
  rawRequest,
  requestAndCut,
  startTestGateway,
} from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Why poll when you can stream?' }];
const request = { model: 'sim', messages, stream: true };
const expected = simText({ model: 'sim', messages });

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startTestGateway({
    // A paced sim (40 tokens/s): a long-poll answers with the first events long before the end.
    providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 40 } },
    server: { longPollMaxWaitMs: 3000 },
    spool: { retentionMs: 60_000 },
  });
});

afterAll(async () => {
  await gateway.close();
});

async function startAsync(headers: Record<string, string> = {}): Promise<string> {
  const answer = await postChat(gateway.url, request, { prefer: 'respond-async', ...headers });
  expect(answer.status).toBe(202);
  const body = JSON.parse(answer.body) as StreamAccepted;
  expect(answer.headers['x-stream-id']).toBe(body.id);
  expect(answer.headers['preference-applied']).toBe('respond-async');
  return body.id;
}

async function poll(streamId: string, after: number, wait = 3): Promise<LongPollAnswer> {
  const answer = await rawRequest(`${gateway.url}/v1/streams/${streamId}?after=${after}&wait=${wait}`);
  expect(answer.status).toBe(200);
  return JSON.parse(answer.body) as LongPollAnswer;
}

/** Long-polls a stream to its end, returning every answer. */
async function pollToEnd(streamId: string): Promise<LongPollAnswer[]> {
  const answers: LongPollAnswer[] = [];
  let after = 0;
  for (;;) {
    const answer = await poll(streamId, after);
    answers.push(answer);
    after = answer.next_after;
    if (answer.ended) return answers;
  }
}

describe('long-poll read of a stream (GET /v1/streams/{id}?after=n&wait=s)', () => {
  it('answers a POST with Prefer: respond-async 202 at once, then delivers the stream in pieces as generated, exact', async () => {
    const streamId = await startAsync();
    const answers = await pollToEnd(streamId);
    const events = answers.flatMap((answer) => answer.events) as ParsedEvent[];
    expectExactStream(events, expected);
    // Answered as generated: several answers, the first one well before the last event.
    expect(answers.length).toBeGreaterThan(3);
    expect(answers[0]?.ended).toBe(false);
    // Ids and data are exactly what the SSE read shows of the same stream.
    const sse = await rawRequest(`${gateway.url}/v1/streams/${streamId}`);
    expect(events).toEqual(parseSse(sse.body));
  });

  it('answers the same POST again with its Idempotency-Key and Prefer: respond-async with the same stream id', async () => {
    const key = `lp-${Math.random()}`;
    const first = await startAsync({ 'idempotency-key': key });
    const again = await startAsync({ 'idempotency-key': key });
    expect(again).toBe(first);
    expectExactStream((await pollToEnd(first)).flatMap((answer) => answer.events) as ParsedEvent[], expected);
  });

  it('answers an ended stream read to its end at once with no events and ended: true', async () => {
    const streamId = await startAsync();
    const answers = await pollToEnd(streamId);
    const last = answers.at(-1) as LongPollAnswer;
    const again = await poll(streamId, last.next_after, 30);
    expect(again).toMatchObject({ events: [], ended: true, next_after: last.next_after });
  });

  it('holds a read with nothing new for the wait asked, capped by longPollMaxWaitMs, then answers no events', async () => {
    const paused = await startTestGateway({ server: { longPollMaxWaitMs: 150 } });
    try {
      // The sim sends two chunks, then holds the stream still for 5 s.
      const answer = await postChat(paused.url, request, {
        prefer: 'respond-async',
        'x-spool-fault': 'stall-after=2;stall-ms=5000',
      });
      const { id } = JSON.parse(answer.body) as StreamAccepted;
      let after = 0;
      for (let attempt = 0; attempt < 10; attempt++) {
        const started = performance.now();
        const read = await rawRequest(`${paused.url}/v1/streams/${id}?after=${after}&wait=600`);
        const elapsedMs = performance.now() - started;
        const body = JSON.parse(read.body) as LongPollAnswer;
        if (body.events.length > 0) {
          after = body.next_after;
          continue;
        }
        expect(body).toMatchObject({ events: [], ended: false, next_after: after });
        expect(elapsedMs).toBeGreaterThanOrEqual(140);
        expect(elapsedMs).toBeLessThan(2000);
        return;
      }
      throw new Error('no read waited');
    } finally {
      await paused.close();
    }
  });

  it('refuses a bad after or wait with 400 naming the parameter, an unknown stream with 404', async () => {
    const streamId = await startAsync();
    for (const [query, param] of [
      ['after=-1', 'after'],
      ['after=x', 'after'],
      ['after=', 'after'],
      ['wait=1e3', 'wait'],
      ['wait=-2', 'wait'],
    ] as const) {
      const answer = await rawRequest(`${gateway.url}/v1/streams/${streamId}?${query}`);
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body).error.param).toBe(param);
    }
    const missing = await rawRequest(`${gateway.url}/v1/streams/str_${'a'.repeat(22)}?after=0`);
    expect(missing.status).toBe(404);
  });

  it("refuses another key's long-poll read (403) and the same POST from another key starts its own stream", async () => {
    const keyed = await startTestGateway({
      keys: [
        { name: 'alice', key: 'sk-alice-0000000000' },
        { name: 'bob', key: 'sk-bob-00000000000' },
      ],
    });
    try {
      const alice = { authorization: 'Bearer sk-alice-0000000000', prefer: 'respond-async' };
      const accepted = await postChat(keyed.url, request, { ...alice, 'idempotency-key': 'shared-key' });
      const { id } = JSON.parse(accepted.body) as StreamAccepted;
      const asBob = await rawRequest(`${keyed.url}/v1/streams/${id}?after=0&wait=1`, {
        headers: { authorization: 'Bearer sk-bob-00000000000' },
      });
      expect(asBob.status).toBe(403);
      expect(JSON.parse(asBob.body).error.code).toBe('stream_forbidden');
      // A key is looked up per owner: Bob's POST with Alice's key value finds nothing of hers.
      const bobs = await postChat(keyed.url, request, {
        authorization: 'Bearer sk-bob-00000000000',
        prefer: 'respond-async',
        'idempotency-key': 'shared-key',
      });
      expect((JSON.parse(bobs.body) as StreamAccepted).id).not.toBe(id);
      const asAlice = await rawRequest(`${keyed.url}/v1/streams/${id}?after=0&wait=1`, {
        headers: { authorization: alice.authorization },
      });
      expect(asAlice.status).toBe(200);
    } finally {
      await keyed.close();
    }
  });

  it('resumes exactly when long-poll answers are cut at random bytes (a cut answer is asked again)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: 400 }), { minLength: 4, maxLength: 8 }), async (cuts) => {
        const streamId = await startAsync();
        const events: ParsedEvent[] = [];
        let after = 0;
        for (let attempt = 0; ; attempt++) {
          const url = `${gateway.url}/v1/streams/${streamId}?after=${after}&wait=3`;
          const cutAt = cuts[attempt];
          const answer =
            cutAt === undefined ? await rawRequest(url) : await requestAndCut(url, {}, cutAt + 1);
          let parsed: LongPollAnswer;
          try {
            parsed = JSON.parse(answer.body) as LongPollAnswer;
          } catch {
            continue;
          }
          events.push(...(parsed.events as ParsedEvent[]));
          after = parsed.next_after;
          if (parsed.ended) break;
        }
        expectExactStream(events, expected);
      }),
      { numRuns: 4 },
    );
  });
});

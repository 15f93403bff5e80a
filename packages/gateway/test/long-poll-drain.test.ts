import type { LongPollAnswer, StreamAccepted } from '@spool/protocol';
import { type RedisServer, startRedisServer } from '@spool/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import {
  expectExactStream,
  type ParsedEvent,
  postChat,
  type RawResponse,
  rawRequest,
  startTestGateway,
} from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Keep polling me across a restart.' }];
const request = { model: 'sim', messages, stream: true };
const expected = simText({ model: 'sim', messages });

describe('a long-poll read across a SIGTERM drain (two instances on one redis-server)', () => {
  let redis: RedisServer;
  let a: Gateway;
  let b: Gateway;

  beforeAll(async () => {
    redis = await startRedisServer();
    const shared = {
      providers: { sim: { type: 'sim' as const, ttftMs: 0, tokensPerSecond: 30 } },
      spool: { store: 'redis' as const, redisUrl: redis.url, keyPrefix: `lpdrain${Date.now()}:` },
    };
    [a, b] = await Promise.all([
      startTestGateway({ ...shared, server: { shutdownGraceMs: 15_000 } }),
      startTestGateway(shared),
    ]);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('ends the held read cleanly at once, and the client reads on from B, exactly', async () => {
    // The sim pauses 2 s after its third chunk: a read then waits, held open, when A starts draining.
    const accepted = await postChat(a.url, request, {
      prefer: 'respond-async',
      'x-spool-fault': 'stall-after=3;stall-ms=2000',
    });
    expect(accepted.status).toBe(202);
    const streamId = (JSON.parse(accepted.body) as StreamAccepted).id;

    const events: ParsedEvent[] = [];
    let after = 0;
    let held: Promise<RawResponse> | undefined;
    while (held === undefined) {
      const read = rawRequest(`${a.url}/v1/streams/${streamId}?after=${after}&wait=20`);
      let answered = false;
      read.then(() => {
        answered = true;
      });
      // Either the read answers (events were there) or it is registered, waiting on the store's wake-up.
      for (let turn = 0; !answered && a.context.readers.size === 0; turn++) {
        if (turn > 5_000) throw new Error('the long-poll read neither answered nor waited');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      if (!answered) {
        held = read;
        break;
      }
      const answer = JSON.parse((await read).body) as LongPollAnswer;
      events.push(...(answer.events as ParsedEvent[]));
      after = answer.next_after;
    }
    const drainStarted = performance.now();
    const closed = a.close();
    const first = await held;
    expect(first.status).toBe(200);
    expect(performance.now() - drainStarted).toBeLessThan(1000);
    const heldAnswer = JSON.parse(first.body) as LongPollAnswer;
    expect(heldAnswer).toMatchObject({ events: [], ended: false, next_after: after });

    for (;;) {
      const read = await rawRequest(`${b.url}/v1/streams/${streamId}?after=${after}&wait=5`);
      expect(read.status).toBe(200);
      const answer = JSON.parse(read.body) as LongPollAnswer;
      events.push(...(answer.events as ParsedEvent[]));
      after = answer.next_after;
      if (answer.ended) break;
    }
    expectExactStream(events, expected);
    await closed;
  });
});

import { type RedisServer, startRedisServer } from '@spool/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import {
  completeEvents,
  type ParsedEvent,
  parseSse,
  rawRequest,
  requestAndCut,
  startTestGateway,
} from './helpers.js';
import { chatTextStream, startUpstream, type TestUpstream } from './messages-upstreams.js';

const WORDS = [
  'Resum',
  'able ',
  'Claude ',
  'streams ',
  'never ',
  'lose ',
  'a ',
  'token ',
  'nor ',
  'pay ',
  'twice.',
];
const TEXT = WORDS.join('');
const body = JSON.stringify({
  model: 'chat-up',
  max_tokens: 100,
  stream: true,
  messages: [{ role: 'user', content: 'Tell me about resuming.' }],
});
const post = {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
  body,
};

/**
 * Checks a reassembled Messages stream: ids 1..n with no gap and no duplicate, Anthropic's event
 * order (message_start first, message_delta then message_stop last), `event:` = the data's type, the exact text.
 */
function expectExactMessages(events: readonly ParsedEvent[]): void {
  expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));
  for (const event of events) expect(JSON.parse(event.data).type).toBe(event.event);
  expect(events[0]?.event).toBe('message_start');
  expect(events.slice(-2).map((event) => event.event)).toEqual(['message_delta', 'message_stop']);
  let text = '';
  for (const event of events) {
    const payload = JSON.parse(event.data) as { delta?: { type?: string; text?: string } };
    if (payload.delta?.type === 'text_delta') text += payload.delta.text;
  }
  expect(text).toBe(TEXT);
}

/** Byte offsets at every line boundary of a body (an event's start, after its id and event lines, before its blank line). */
function cutPoints(text: string): number[] {
  const points = new Set<number>();
  const bytes = Buffer.from(text);
  for (let index = 0; index < bytes.length; index++) {
    if (bytes[index] === 0x0a) {
      points.add(index);
      points.add(index + 1);
    }
  }
  return [...points].filter((point) => point > 0 && point < bytes.length).sort((a, b) => a - b);
}

let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await startUpstream(() => ({ events: chatTextStream(WORDS) }));
});

afterAll(async () => {
  await upstream.close();
});

const gatewayConfig = () => ({
  providers: { up: { type: 'openai' as const, baseURL: `${upstream.url}/v1` } },
  models: [{ match: '*', provider: 'up' }],
  spool: { retentionMs: 60_000 },
});

describe('a Messages stream cut at every event boundary resumes exactly (memory spool)', () => {
  let gateway: Gateway;
  let reference: string;

  beforeAll(async () => {
    gateway = await startTestGateway(gatewayConfig());
    reference = (await rawRequest(`${gateway.url}/v1/messages`, post)).body;
    expectExactMessages(parseSse(reference));
  });

  afterAll(async () => {
    await gateway.close();
  });

  it('resumes via GET /v1/streams/{id} + Last-Event-ID after a cut at every line boundary, with one generation each', async () => {
    const points = cutPoints(reference);
    expect(points.length).toBeGreaterThan(60);
    for (const cutAt of points) {
      const before = upstream.received.length;
      const first = await requestAndCut(`${gateway.url}/v1/messages`, post, cutAt);
      const { events, lastId } = completeEvents(first.body);
      const resumed = await rawRequest(`${gateway.url}/v1/streams/${first.headers['x-stream-id']}`, {
        headers: { 'last-event-id': String(lastId) },
      });
      expect(resumed.status).toBe(200);
      expectExactMessages([...events, ...parseSse(resumed.body)]);
      expect(upstream.received.length).toBe(before + 1);
    }
  });

  it('resumes via the same POST with the same Idempotency-Key and Last-Event-ID, with no second generation', async () => {
    const points = cutPoints(reference);
    for (const cutAt of points.filter((_, index) => index % 3 === 0)) {
      const before = upstream.received.length;
      const key = `messages-${cutAt}-${Date.now()}`;
      const withKey = { ...post, headers: { ...post.headers, 'idempotency-key': key } };
      const first = await requestAndCut(`${gateway.url}/v1/messages`, withKey, cutAt);
      const { events, lastId } = completeEvents(first.body);
      const retried = await rawRequest(`${gateway.url}/v1/messages`, {
        ...withKey,
        headers: { ...withKey.headers, 'last-event-id': String(lastId) },
      });
      // A retry after the last event has nothing left to send.
      if (retried.status === 204) expectExactMessages(events);
      else {
        expect(retried.status).toBe(200);
        expect(retried.headers['x-stream-id']).toBe(first.headers['x-stream-id']);
        expectExactMessages([...events, ...parseSse(retried.body)]);
      }
      expect(upstream.received.length).toBe(before + 1);
    }
  });
});

describe('a Messages stream resumes on another instance sharing Redis', () => {
  let redis: RedisServer;
  let a: Gateway;
  let b: Gateway;

  beforeAll(async () => {
    redis = await startRedisServer();
    const spool = {
      store: 'redis' as const,
      redisUrl: redis.url,
      keyPrefix: `msg${Date.now()}:`,
      retentionMs: 60_000,
    };
    [a, b] = await Promise.all([
      startTestGateway({ ...gatewayConfig(), spool }),
      startTestGateway({ ...gatewayConfig(), spool }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await redis.stop();
  });

  it('a stream cut on A at every event boundary resumes exactly on B (GET and POST + Idempotency-Key), one generation each', async () => {
    const reference = (await rawRequest(`${a.url}/v1/messages`, post)).body;
    const boundaries = cutPoints(reference).filter(
      (point) => reference[point - 1] === '\n' && reference[point - 2] === '\n',
    );
    expect(boundaries.length).toBeGreaterThan(10);
    for (const [index, cutAt] of boundaries.entries()) {
      const before = upstream.received.length;
      const key = `redis-${index}-${Date.now()}`;
      const withKey = { ...post, headers: { ...post.headers, 'idempotency-key': key } };
      const first = await requestAndCut(`${a.url}/v1/messages`, withKey, cutAt);
      const { events, lastId } = completeEvents(first.body);
      const viaGet = await rawRequest(`${b.url}/v1/streams/${first.headers['x-stream-id']}`, {
        headers: { 'last-event-id': String(lastId) },
      });
      const viaPost = await rawRequest(`${b.url}/v1/messages`, {
        ...withKey,
        headers: { ...withKey.headers, 'last-event-id': String(lastId) },
      });
      for (const resumed of [viaGet, viaPost]) {
        if (resumed.status === 204) expectExactMessages(events);
        else {
          expect(resumed.status).toBe(200);
          expectExactMessages([...events, ...parseSse(resumed.body)]);
        }
      }
      expect(upstream.received.length).toBe(before + 1);
    }
  });
});

import { type RedisServer, startRedisServer } from '@spool/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import {
  expectExactStream,
  openResponse,
  parseSse,
  postChat,
  type RawResponse,
  rawRequest,
  startTestGateway,
} from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Resume me once I am finished.' }];
const request = { model: 'sim', messages, stream: true };
const expected = simText({ model: 'sim', messages });

/** The id of a response's last event. */
function lastIdOf(response: RawResponse): number {
  return Number(parseSse(response.body).at(-1)?.id);
}

/** Checks a 204 that ends a resume: no body, the stream and request ids still named. */
function expectNoContent(response: RawResponse, streamId: string): void {
  expect(response.status).toBe(204);
  expect(response.body).toBe('');
  expect(response.headers['x-stream-id']).toBe(streamId);
  expect(response.headers['x-request-id']).toEqual(expect.any(String));
  expect(response.headers['content-type']).toBeUndefined();
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(() => redis.stop());

/**
 * `generator` runs the generations and `resumer` answers the resumes: one memory gateway, or two
 * gateways sharing one redis-server, so the resumer only knows the stream from the shared meta.
 */
describe.each([
  ['memory', async () => [await startTestGateway()]],
  [
    'redis, resumed on another instance',
    async () => {
      const spool = { store: 'redis' as const, redisUrl: redis.url, keyPrefix: `done${Date.now()}:` };
      return Promise.all([startTestGateway({ spool }), startTestGateway({ spool })]);
    },
  ],
] as Array<[string, () => Promise<Gateway[]>]>)('resuming a finished stream (%s)', (_kind, start) => {
  let gateways: Gateway[];
  let generator: Gateway;
  let resumer: Gateway;
  beforeAll(async () => {
    gateways = await start();
    generator = gateways[0] as Gateway;
    resumer = gateways.at(-1) as Gateway;
  });
  afterAll(() => Promise.all(gateways.map((gateway) => gateway.close())));

  it('answers 204 with X-Stream-Id and X-Request-Id to a GET from the [DONE] event id or past it', async () => {
    const first = await postChat(generator.url, request);
    expectExactStream(parseSse(first.body), expected);
    const streamId = first.headers['x-stream-id'] as string;
    const lastId = lastIdOf(first);
    const streamUrl = `${resumer.url}/v1/streams/${streamId}`;
    expectNoContent(await rawRequest(streamUrl, { headers: { 'last-event-id': String(lastId) } }), streamId);
    expectNoContent(await rawRequest(`${streamUrl}?last_event_id=${lastId + 5}`), streamId);
  });

  it('still replays the rest with 200 from an earlier event id', async () => {
    const first = await postChat(generator.url, request);
    const streamUrl = `${resumer.url}/v1/streams/${first.headers['x-stream-id']}`;
    const lastId = lastIdOf(first);
    const rest = await rawRequest(streamUrl, { headers: { 'last-event-id': String(lastId - 2) } });
    expect(rest.status).toBe(200);
    expect(rest.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(parseSse(rest.body)).toEqual(parseSse(first.body).slice(-2));
  });

  it('answers 204 to a POST that attaches by Idempotency-Key from the last event id, and 200 from before it', async () => {
    const headers = { 'idempotency-key': `finished-${Date.now()}-${Math.random()}` };
    const first = await postChat(generator.url, request, headers);
    const streamId = first.headers['x-stream-id'] as string;
    const lastId = lastIdOf(first);
    const attached = await postChat(resumer.url, request, { ...headers, 'last-event-id': String(lastId) });
    expectNoContent(attached, streamId);
    const beyond = await postChat(resumer.url, request, { ...headers, 'last-event-id': String(lastId + 1) });
    expectNoContent(beyond, streamId);
    // The same generation still replays from before its end: no second one was started.
    const replay = await postChat(resumer.url, request, { ...headers, 'last-event-id': String(lastId - 1) });
    expect(replay.status).toBe(200);
    expect(replay.headers['x-stream-id']).toBe(streamId);
    expect(parseSse(replay.body)).toEqual(parseSse(first.body).slice(-1));
  });

  it('answers 204 from the final error event of a stream that failed mid-way', async () => {
    const first = await postChat(generator.url, request, { 'x-spool-fault': 'error-after=3' });
    const events = parseSse(first.body);
    expect(JSON.parse(events.at(-1)?.data ?? '{}').error).toBeDefined();
    const streamId = first.headers['x-stream-id'] as string;
    const streamUrl = `${resumer.url}/v1/streams/${streamId}`;
    expectNoContent(
      await rawRequest(streamUrl, { headers: { 'last-event-id': String(lastIdOf(first)) } }),
      streamId,
    );
    const before = await rawRequest(streamUrl, { headers: { 'last-event-id': String(lastIdOf(first) - 1) } });
    expect(parseSse(before.body)).toEqual(events.slice(-1));
  });

  it('keeps a resume past the last event so far of a stream still generating as a live tail, then answers 204 once it ended', async () => {
    const started = await openResponse(`${generator.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-spool-fault': 'stall-after=3' },
      body: JSON.stringify(request),
    });
    const streamId = started.headers['x-stream-id'] as string;
    const streamUrl = `${resumer.url}/v1/streams/${streamId}`;
    // The sim stalls after event 3, so 4 is past the last event so far: a live tail, not a 204.
    const tail = await openResponse(streamUrl, { headers: { 'last-event-id': '4' } });
    expect(tail.status).toBe(200);
    await rawRequest(streamUrl, { method: 'DELETE' });
    const cancelled = parseSse(await started.rest);
    expect(cancelled.map((event) => Number(event.id))).toEqual([1, 2, 3, 4]);
    expect(JSON.parse(cancelled.at(-1)?.data ?? '{}').error.code).toBe('stream_cancelled');
    // The Stop's final event is the tail's resume point: the tail ends with no event.
    expect(parseSse(await tail.rest)).toEqual([]);
    expectNoContent(await rawRequest(streamUrl, { headers: { 'last-event-id': '4' } }), streamId);
    expectNoContent(await rawRequest(streamUrl, { headers: { 'last-event-id': '100' } }), streamId);
  });
});

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Gateway } from '../src/index.js';
import { StoreUnavailableError } from '../src/spool/store.js';
import { postChat, type RawResponse, rawRequest, startTestGateway } from './helpers.js';

const ALICE = { authorization: 'Bearer sk-alice-0000000000' };
const BOB = { authorization: 'Bearer sk-bob-00000000000' };
const ANTHROPIC = { 'anthropic-version': '2023-06-01' };
const user = [{ role: 'user' as const, content: 'Whose stream is this?' }];

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startTestGateway({
    keys: [
      { name: 'alice', key: 'sk-alice-0000000000' },
      { name: 'bob', key: 'sk-bob-00000000000' },
    ],
  });
});

afterAll(async () => {
  await gateway.close();
});

/** Starts a stream on one surface as Alice and returns its id (`X-Stream-Id`). */
async function startStream(surface: 'chat' | 'responses' | 'messages', url = gateway.url): Promise<string> {
  const answer =
    surface === 'chat'
      ? await postChat(url, { model: 'sim', messages: user, stream: true }, ALICE)
      : await rawRequest(`${url}/v1/${surface}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...ALICE,
            ...(surface === 'messages' ? ANTHROPIC : {}),
          },
          body: JSON.stringify(
            surface === 'messages'
              ? { model: 'sim', max_tokens: 50, stream: true, messages: user }
              : { model: 'sim', input: 'Whose stream is this?', stream: true },
          ),
        });
  expect(answer.status).toBe(200);
  return answer.headers['x-stream-id'] as string;
}

function expectAnthropicError(answer: RawResponse, status: number, type: string, code: string): void {
  expect(answer.status).toBe(status);
  const body = JSON.parse(answer.body) as { type: string; error: { type: string; message: string } };
  expect(body.type).toBe('error');
  expect(body.error.type).toBe(type);
  expect(body.error.message).toContain(`code: ${code}`);
}

function expectOpenAiError(answer: RawResponse, status: number, code: string): void {
  expect(answer.status).toBe(status);
  const body = JSON.parse(answer.body) as { type?: string; error: { code: string } };
  expect(body.type).toBeUndefined();
  expect(body.error.code).toBe(code);
}

describe('errors on /v1/streams/{id} take the shape of the surface the stream was started on', () => {
  it("answers another key's SSE read, long-poll and DELETE of a Messages stream in Anthropic's shape, without anthropic-version", async () => {
    const streamUrl = `${gateway.url}/v1/streams/${await startStream('messages')}`;
    const read = await rawRequest(streamUrl, { headers: BOB });
    expectAnthropicError(read, 403, 'permission_error', 'stream_forbidden');
    const longPoll = await rawRequest(`${streamUrl}?after=0&wait=0`, { headers: BOB });
    expectAnthropicError(longPoll, 403, 'permission_error', 'stream_forbidden');
    const stop = await rawRequest(streamUrl, { method: 'DELETE', headers: BOB });
    expectAnthropicError(stop, 403, 'permission_error', 'stream_forbidden');
    const badAfter = await rawRequest(`${streamUrl}?after=x`, { headers: ALICE });
    expectAnthropicError(badAfter, 400, 'invalid_request_error', 'invalid_request');
    const badLastEventId = await rawRequest(streamUrl, {
      headers: { ...ALICE, 'last-event-id': 'abc' },
    });
    // A malformed Last-Event-ID is refused before the stream is looked up: by headers, OpenAI's here.
    expectOpenAiError(badLastEventId, 400, 'invalid_last_event_id');
  });

  it("answers chat and Responses streams' errors in OpenAI's shape, even to a request that sends anthropic-version", async () => {
    for (const surface of ['chat', 'responses'] as const) {
      const streamUrl = `${gateway.url}/v1/streams/${await startStream(surface)}`;
      for (const url of [streamUrl, `${streamUrl}?after=0&wait=0`]) {
        expectOpenAiError(
          await rawRequest(url, { headers: { ...BOB, ...ANTHROPIC } }),
          403,
          'stream_forbidden',
        );
        expectOpenAiError(await rawRequest(url, { headers: BOB }), 403, 'stream_forbidden');
      }
    }
  });

  it('answers an unknown stream id by the request headers alone (Anthropic shape only with anthropic-version)', async () => {
    const unknownUrl = `${gateway.url}/v1/streams/str_AAAAAAAAAAAAAAAAAAAAAAAA`;
    expectOpenAiError(await rawRequest(unknownUrl, { headers: ALICE }), 404, 'stream_not_found');
    expectAnthropicError(
      await rawRequest(`${unknownUrl}?after=0`, { headers: { ...ALICE, ...ANTHROPIC } }),
      404,
      'not_found_error',
      'stream_not_found',
    );
  });

  it("answers a Messages stream's evicted resume point (410) in Anthropic's shape, SSE read and long-poll", async () => {
    const local = await startTestGateway({ spool: { maxStreamBytes: 600 } });
    try {
      const answer = await rawRequest(`${local.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...ANTHROPIC },
        body: JSON.stringify({ model: 'sim', max_tokens: 200, stream: true, messages: user }),
      });
      const streamUrl = `${local.url}/v1/streams/${answer.headers['x-stream-id']}`;
      const read = await rawRequest(streamUrl, { headers: { 'last-event-id': '0' } });
      expectAnthropicError(read, 410, 'invalid_request_error', 'stream_expired');
      const longPoll = await rawRequest(`${streamUrl}?after=0&wait=0`);
      expectAnthropicError(longPoll, 410, 'invalid_request_error', 'stream_expired');
    } finally {
      await local.close();
    }
  });

  it("answers a long-poll read that fails once under way in the stream's surface's shape", async () => {
    const messagesId = await startStream('messages');
    const chatId = await startStream('chat');
    const store = gateway.context.store;
    const read = store.read.bind(store);
    const spy = vi.spyOn(store, 'read').mockImplementation((streamId, afterId) => {
      const reader = read(streamId, afterId);
      reader.pull = (_onResult, onError) => onError(new StoreUnavailableError('the store is down'));
      return reader;
    });
    try {
      const messages = await rawRequest(`${gateway.url}/v1/streams/${messagesId}?after=0&wait=1`, {
        headers: ALICE,
      });
      // Anthropic's 529 for a gateway 503.
      expectAnthropicError(messages, 529, 'overloaded_error', 'store_unavailable');
      const chat = await rawRequest(`${gateway.url}/v1/streams/${chatId}?after=0&wait=1`, {
        headers: { ...ALICE, ...ANTHROPIC },
      });
      expectOpenAiError(chat, 503, 'store_unavailable');
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
  });
});

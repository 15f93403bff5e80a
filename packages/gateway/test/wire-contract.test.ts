import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import { parseSse, postChat, rawRequest, startTestGateway, textOf } from './helpers.js';

const messages = [{ role: 'user', content: 'What does the gateway add?' }];

describe('the wire contract, over raw HTTP', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ server: { bodyLimitBytes: 64 * 1024, heartbeatIntervalMs: 20 } });
  });
  afterAll(() => gateway.close());

  it('streams with the SSE headers, a retry hint, and id: 1, 2, 3 … on every event including [DONE]', async () => {
    const response = await postChat(gateway.url, { model: 'sim', messages, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers['x-accel-buffering']).toBe('no');
    expect(response.headers['x-stream-id']).toMatch(/^str_/);
    expect(response.headers['x-request-id']).toMatch(/^req_/);
    expect(response.body.startsWith('retry: 1000\n\n')).toBe(true);
    const events = parseSse(response.body);
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => String(index + 1)));
    expect(events.at(-1)?.data).toBe('[DONE]');
    expect(textOf(events)).toBe(simText({ model: 'sim', messages: messages as never }));
  });

  it('frames each event as id line, data line, blank line', async () => {
    const response = await postChat(gateway.url, { model: 'sim', messages, stream: true });
    const blocks = response.body.split('\n\n').filter(Boolean);
    expect(blocks[0]).toBe('retry: 1000');
    for (const [index, block] of blocks.slice(1).entries()) {
      expect(block).toMatch(new RegExp(`^id: ${index + 1}\ndata: [^\n]+$`));
    }
  });

  it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
    const kept = await rawRequest(`${gateway.url}/health`, { headers: { 'x-request-id': 'trace-42.a' } });
    expect(kept.headers['x-request-id']).toBe('trace-42.a');
    const replaced = await rawRequest(`${gateway.url}/health`, {
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(replaced.headers['x-request-id']).toMatch(/^req_/);
  });

  it('sends X-Request-Id on every answer of the chat and stream routes: streamed, resumed, 204, plain and errors', async () => {
    const id = { 'x-request-id': 'trace-7' };
    const streamed = await postChat(gateway.url, { model: 'sim', messages, stream: true }, id);
    const streamUrl = `${gateway.url}/v1/streams/${streamed.headers['x-stream-id']}`;
    const lastId = parseSse(streamed.body).at(-1)?.id as string;
    const answers = [
      streamed,
      await rawRequest(streamUrl, { headers: { ...id, 'last-event-id': '1' } }),
      await rawRequest(streamUrl, { headers: { ...id, 'last-event-id': lastId } }),
      await postChat(gateway.url, { model: 'sim', messages }, id),
      await postChat(gateway.url, { model: 'sim', stream: true }, id),
      await rawRequest(`${gateway.url}/v1/streams/str_unknownunknownunknown`, { headers: id }),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 204, 200, 400, 404]);
    for (const answer of answers) expect(answer.headers['x-request-id']).toBe('trace-7');
  });

  it('sends comment heartbeats (without ids) while the upstream is silent', async () => {
    const response = await postChat(
      gateway.url,
      { model: 'sim', messages, stream: true },
      { 'x-spool-fault': 'stall-after=2;stall-ms=150' },
    );
    expect(response.body).toContain(': ping\n\n');
    const events = parseSse(response.body);
    expect(events.at(-1)?.data).toBe('[DONE]');
    expect(textOf(events)).toBe(simText({ model: 'sim', messages: messages as never }));
  });

  it('ends a stream whose upstream drops with one error event and no [DONE]', async () => {
    const response = await postChat(
      gateway.url,
      { model: 'sim', messages, stream: true },
      { 'x-spool-fault': 'drop-after=3' },
    );
    expect(response.status).toBe(200);
    const events = parseSse(response.body);
    expect(events).toHaveLength(4);
    const last = JSON.parse(events.at(-1)?.data ?? '{}');
    expect(last.error.code).toBe('upstream_error');
    expect(events.at(-1)?.id).toBe('4');
    expect(events.some((event) => event.data === '[DONE]')).toBe(false);
  });

  it("relays an upstream's own mid-stream error event and ends there", async () => {
    const response = await postChat(
      gateway.url,
      { model: 'sim', messages, stream: true },
      { 'x-spool-fault': 'error-after=5' },
    );
    const events = parseSse(response.body);
    expect(events).toHaveLength(6);
    expect(JSON.parse(events[5]?.data ?? '{}').error.code).toBe('sim_fault');
  });

  it('answers a failure before the first byte with its status and Retry-After, not a 200', async () => {
    const response = await postChat(
      gateway.url,
      { model: 'sim', messages, stream: true },
      { 'x-spool-fault': 'status=503;retry-after=7' },
    );
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('7');
    expect(JSON.parse(response.body).error).toMatchObject({ type: 'server_error', code: 'sim_fault' });
  });

  it.each([
    ['invalid JSON', '{"model": "sim", "messages": [', 400, 'invalid_json', null],
    ['a body that is not an object', '[1,2]', 400, 'invalid_request', 'body'],
    ['a missing model', JSON.stringify({ messages }), 400, 'invalid_request', 'model'],
    ['missing messages', JSON.stringify({ model: 'sim' }), 400, 'invalid_request', 'messages'],
    [
      'messages of the wrong type',
      JSON.stringify({ model: 'sim', messages: 'hi' }),
      400,
      'invalid_request',
      'messages',
    ],
    [
      'an empty messages array',
      JSON.stringify({ model: 'sim', messages: [] }),
      400,
      'invalid_request',
      'messages',
    ],
    [
      'a bad role',
      JSON.stringify({ model: 'sim', messages: [{ role: 'robot', content: 'x' }] }),
      400,
      'invalid_request',
      'messages[0].role',
    ],
    [
      'stream of the wrong type',
      JSON.stringify({ model: 'sim', messages, stream: 'yes' }),
      400,
      'invalid_request',
      'stream',
    ],
    [
      'max_tokens of the wrong type',
      JSON.stringify({ model: 'sim', messages, max_tokens: '5' }),
      400,
      'invalid_request',
      'max_tokens',
    ],
    [
      'stream_options without stream',
      JSON.stringify({ model: 'sim', messages, stream_options: { include_usage: true } }),
      400,
      'invalid_request',
      'stream_options',
    ],
  ])('refuses %s with a clear OpenAI error', async (_name, body, status, code, param) => {
    const response = await rawRequest(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(status);
    const parsed = JSON.parse(response.body);
    expect(parsed.error).toMatchObject({ type: 'invalid_request_error', code, param });
    expect(parsed.error.message.length).toBeGreaterThan(10);
  });

  it('refuses a body over the size limit with 413', async () => {
    const big = JSON.stringify({
      model: 'sim',
      messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }],
    });
    const response = await rawRequest(`${gateway.url}/v1/chat/completions`, { method: 'POST', body: big });
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body).error.code).toBe('request_too_large');
  });

  it('answers a wrong method with 405 and an Allow header', async () => {
    const response = await rawRequest(`${gateway.url}/v1/chat/completions`);
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(JSON.parse(response.body).error.code).toBe('method_not_allowed');
  });

  it('answers an unknown path with 404 in OpenAI shape', async () => {
    const response = await rawRequest(`${gateway.url}/v1/images/generations`, { method: 'POST' });
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body).error.type).toBe('invalid_request_error');
  });

  it('answers a malformed fault header with 400', async () => {
    const response = await postChat(
      gateway.url,
      { model: 'sim', messages, stream: true },
      { 'x-spool-fault': 'explode=1' },
    );
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).error.message).toContain('unknown directive');
  });

  it('truncates at max_tokens with finish_reason length', async () => {
    const response = await postChat(gateway.url, { model: 'sim', messages, stream: true, max_tokens: 3 });
    const events = parseSse(response.body);
    expect(events).toHaveLength(1 + 3 + 1 + 1);
    expect(JSON.parse(events[4]?.data ?? '{}').choices[0].finish_reason).toBe('length');
  });

  it('reports health and readiness', async () => {
    expect(JSON.parse((await rawRequest(`${gateway.url}/health`)).body)).toEqual({ status: 'ok' });
    const ready = await rawRequest(`${gateway.url}/ready`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body).checks).toEqual({ 'store:memory': 'ok', 'provider:sim': 'ok' });
  });
});

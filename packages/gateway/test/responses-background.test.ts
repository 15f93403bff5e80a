import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { parseSse, rawRequest, startTestGateway } from './helpers.js';
import {
  type ScriptedUpstream,
  startScriptedUpstream,
  textChunks,
  writeChatStream,
} from './scripted-upstream.js';

const refusal = {
  error: { message: 'The upstream refuses this one.', type: 'invalid_request_error', code: 'nope' },
};

/**
 * A chat upstream that holds every request until the test releases it: model `refuse` is then
 * answered 400, any other with a short text stream.
 */
function holdingUpstream() {
  const held: Array<{ model: string; response: ServerResponse }> = [];
  const waiters: Array<() => void> = [];
  const upstream = startScriptedUpstream((request, response) => {
    held.push({ model: String(request.body.model), response });
    for (const wake of waiters.splice(0)) wake();
  });
  /** Answers the next held request (waiting until one has arrived). */
  const release = async (): Promise<void> => {
    while (held.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
    const next = held.shift();
    if (!next) return;
    if (next.model === 'refuse') {
      next.response.writeHead(400, { 'content-type': 'application/json' });
      next.response.end(JSON.stringify(refusal));
    } else writeChatStream(next.response, textChunks('Answered in the background.'));
  };
  /** Waits until the next held request is closed by the gateway; whether it was left unanswered. */
  const dropped = async (): Promise<boolean> => {
    while (held.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
    const next = held.shift();
    if (!next) return false;
    if (!next.response.closed) await once(next.response, 'close');
    return !next.response.headersSent;
  };
  return { upstream, release, dropped };
}

/** Polls `responses.retrieve` (each poll one round trip, no timers) until the response has ended. */
async function pollUntilEnded(client: OpenAI, responseId: string): Promise<OpenAI.Responses.Response> {
  for (;;) {
    const polled = await client.responses.retrieve(responseId);
    if (polled.status !== 'queued' && polled.status !== 'in_progress') return polled;
  }
}

describe('/v1/responses background: true answers before its upstream does', () => {
  let upstream: ScriptedUpstream;
  let release: () => Promise<void>;
  let dropped: () => Promise<boolean>;
  let gateway: Gateway;
  let client: OpenAI;

  beforeAll(async () => {
    const holding = holdingUpstream();
    upstream = await holding.upstream;
    release = holding.release;
    dropped = holding.dropped;
    gateway = await startTestGateway({
      providers: { chat: { type: 'openai', baseURL: `${upstream.url}/v1` } },
      models: [{ match: '*', provider: 'chat' }],
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('answers queued/in_progress with no output while the upstream has not answered, then polls as completed', async () => {
    const started = await client.responses.create({ model: 'm', input: 'Hello', background: true });
    expect(started).toMatchObject({ object: 'response', background: true, output: [] });
    expect(['queued', 'in_progress']).toContain(started.status);
    expect((await client.responses.retrieve(started.id)).status).toMatch(/^(queued|in_progress)$/);
    await release();
    const done = await pollUntilEnded(client, started.id);
    expect(done.status).toBe('completed');
    expect(done.output_text).toBe('Answered in the background.');
  });

  it('leaves a response whose upstream then refuses failed, with the upstream error, visible by GET', async () => {
    const started = await client.responses.create({ model: 'refuse', input: 'Hello', background: true });
    expect(['queued', 'in_progress']).toContain(started.status);
    await release();
    const failed = await pollUntilEnded(client, started.id);
    expect(failed.status).toBe('failed');
    expect(failed.error?.message).toContain('The upstream refuses this one.');
  });

  it('cancels a background response while its upstream has not answered yet (the upstream request is released)', async () => {
    const started = await client.responses.create({ model: 'm', input: 'Hello', background: true });
    const cancelled = await client.responses.cancel(started.id);
    expect(cancelled.status).toBe('cancelled');
    const ended = await pollUntilEnded(client, started.id);
    expect(ended.status).toBe('cancelled');
    expect(ended.output).toEqual([]);
    expect(await dropped()).toBe(true);
  });

  it('streams a background response whose upstream refuses to its error event', async () => {
    const answer = rawRequest(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'refuse', input: 'Hello', background: true, stream: true }),
    });
    await release();
    const { status, headers, body } = await answer;
    expect(status).toBe(200);
    const events = parseSse(body);
    expect(events.at(-1)?.event).toBe('error');
    expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({
      type: 'error',
      message: expect.stringContaining('The upstream refuses this one.'),
    });
    const responseId = `resp_${String(headers['x-stream-id']).slice('str_'.length)}`;
    expect((await client.responses.retrieve(responseId)).status).toBe('failed');
    const replay = parseSse((await rawRequest(`${gateway.url}/v1/responses/${responseId}?stream=true`)).body);
    expect(replay.map((event) => event.data)).toEqual(events.map((event) => event.data));
  });
});

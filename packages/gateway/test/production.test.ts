import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText, startSimServer } from '../src/index.js';
import { parseSse, postChat, rawRequest, startTestGateway } from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Production, please.' }];

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

/** A fake Anthropic Messages API that streams a short text answer. */
function fakeAnthropic(): Server {
  return createServer((request, response) => {
    if (request.url === '/v1/models?limit=1000' || request.url === '/v1/models') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          data: [
            {
              id: 'claude-test',
              type: 'model',
              display_name: 'Claude Test',
              created_at: '2025-01-01T00:00:00Z',
            },
          ],
        }),
      );
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (event: string, data: unknown) =>
      response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-test',
        content: [],
        usage: { input_tokens: 9, output_tokens: 1 },
      },
    });
    send('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    });
    for (const text of ['Hello', ' from', ' Claude.']) {
      send('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text },
      });
    }
    send('content_block_stop', { type: 'content_block_stop', index: 0 });
    send('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn' },
      usage: { output_tokens: 3 },
    });
    send('message_stop', { type: 'message_stop' });
    response.end();
  });
}

/** An upstream that tries to smuggle its own ids and event names into the stream. */
function sneakyUpstream(): Server {
  return createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (content: string, finish: string | null = null) =>
      JSON.stringify({
        id: 'x',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [{ index: 0, delta: { content }, finish_reason: finish }],
      });
    response.write(`id: 999\nevent: weird name\ndata: ${chunk('a')}\n\n`);
    response.write(`id: 1000\ndata: ${chunk('b', 'stop')}\n\n`);
    response.end('data: [DONE]\n\n');
  });
}

describe('the production gateway', () => {
  let gateway: Gateway;
  let anthropic: Server;
  let sneaky: Server;
  let sim: Awaited<ReturnType<typeof startSimServer>>;

  beforeAll(async () => {
    anthropic = fakeAnthropic();
    sneaky = sneakyUpstream();
    const [anthropicUrl, sneakyUrl] = await Promise.all([listen(anthropic), listen(sneaky)]);
    sim = await startSimServer({ port: 0 });
    gateway = await startTestGateway({
      providers: {
        claude: { type: 'anthropic', baseURL: anthropicUrl, apiKey: 'sk-ant-test' },
        sneaky: { type: 'openai', baseURL: `${sneakyUrl}/v1` },
        upstream: { type: 'openai', baseURL: sim.baseURL },
      },
      models: [
        { match: 'claude-*', provider: 'claude' },
        { match: 'sneaky', provider: 'sneaky' },
        { match: '*', provider: 'upstream' },
      ],
      keys: [
        { name: 'full', key: 'sk-full-000000000' },
        { name: 'limited', key: 'sk-limited-000000', models: ['sim-fast'] },
      ],
      cors: { origins: ['https://app.example'] },
      cache: { enabled: true },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await sim.close();
    anthropic.close();
    sneaky.close();
  });

  const auth = { authorization: 'Bearer sk-full-000000000' };

  it('streams from Anthropic, translated to OpenAI chunks, through the official SDK', async () => {
    const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-full-000000000', maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: 'claude-test',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Hello from Claude.');
    expect(usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 });
  });

  it('strips the usage chunk it asked the upstream for when the client did not ask', async () => {
    const response = await postChat(gateway.url, { model: 'sim', messages, stream: true }, auth);
    const events = parseSse(response.body);
    expect(events.some((event) => event.data.includes('"usage"'))).toBe(false);
    expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));
  });

  it("renumbers events and drops an upstream's own ids, so an upstream cannot inject resume points", async () => {
    const response = await postChat(gateway.url, { model: 'sneaky', messages, stream: true }, auth);
    expect(response.body).not.toContain('id: 999');
    // The upstream's event name is not relayed either: chat clients get OpenAI's unnamed chunks.
    expect(response.body).toContain('id: 1\ndata: ');
    expect(response.body).not.toContain('weird name');
    expect(parseSse(response.body).map((event) => event.id)).toEqual(['1', '2', '3']);
  });

  it('serves an identical non-streamed request from the cache, per key', async () => {
    const before = sim.stats.chatCompletions;
    const body = { model: 'sim', messages: [{ role: 'user', content: `cache me ${Date.now()}` }] };
    const first = await postChat(gateway.url, body, auth);
    const second = await postChat(gateway.url, body, auth);
    expect(first.headers['x-spool-cache']).toBe('miss');
    expect(second.headers['x-spool-cache']).toBe('hit');
    expect(JSON.parse(second.body)).toEqual(JSON.parse(first.body));
    expect(sim.stats.chatCompletions).toBe(before + 1);
  });

  it('exposes Prometheus metrics', async () => {
    await postChat(gateway.url, { model: 'sim', messages, stream: true }, auth);
    const metrics = await rawRequest(`${gateway.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(
      /spool_http_requests_total\{route="\/v1\/chat\/completions",status="200"\} \d+/,
    );
    expect(metrics.body).toMatch(/spool_time_to_first_token_seconds_count\{model="sim"\} \d+/);
    expect(metrics.body).toMatch(/spool_spooled_bytes_total \d+/);
    expect(metrics.body).toContain('spool_generations_active 0');
  });

  describe('security', () => {
    it('refuses a wrong key with 401 and no key with 401', async () => {
      const wrong = await postChat(
        gateway.url,
        { model: 'sim', messages },
        { authorization: 'Bearer sk-nope' },
      );
      expect(wrong.status).toBe(401);
      expect(JSON.parse(wrong.body).error.code).toBe('invalid_api_key');
      const none = await postChat(gateway.url, { model: 'sim', messages });
      expect(none.status).toBe(401);
    });

    it("refuses a key's use of a model it may not use with 403, and lists only its models", async () => {
      const limited = { authorization: 'Bearer sk-limited-000000' };
      const refused = await postChat(gateway.url, { model: 'sim', messages }, limited);
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body).error.code).toBe('model_not_allowed');
      expect((await postChat(gateway.url, { model: 'sim-fast', messages }, limited)).status).toBe(200);
      const models = JSON.parse((await rawRequest(`${gateway.url}/v1/models`, { headers: limited })).body);
      expect(models.data.map((model: { id: string }) => model.id)).toEqual(['sim-fast']);
    });

    it('answers an allowed origin with CORS headers and refuses another origin with 403', async () => {
      const preflight = await rawRequest(`${gateway.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(preflight.headers['access-control-allow-headers']).toContain('idempotency-key');
      const allowed = await postChat(
        gateway.url,
        { model: 'sim', messages, stream: true },
        { ...auth, origin: 'https://app.example' },
      );
      expect(allowed.headers['access-control-expose-headers']).toContain('x-stream-id');
      const evil = await postChat(
        gateway.url,
        { model: 'sim', messages },
        { ...auth, origin: 'https://evil.example' },
      );
      expect(evil.status).toBe(403);
      expect(JSON.parse(evil.body).error.code).toBe('origin_not_allowed');
      const evilPreflight = await rawRequest(`${gateway.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example' },
      });
      expect(evilPreflight.status).toBe(403);
    });

    it('ignores client-cut faults outside dev mode', async () => {
      const response = await postChat(
        gateway.url,
        { model: 'sim', messages, stream: true },
        { ...auth, 'x-spool-fault': 'client-cut-after=1' },
      );
      expect(parseSse(response.body).at(-1)?.data).toBe('[DONE]');
    });

    it('never logs a key', async () => {
      const lines: string[] = [];
      const { default: pino } = await import('pino');
      const logger = pino({ level: 'trace' }, { write: (line: string) => lines.push(line) });
      const { parseConfig, startGateway } = await import('../src/index.js');
      const local = await startGateway(
        parseConfig({
          server: { port: 0 },
          providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 } },
          keys: [{ name: 'k', key: 'sk-secret-123456' }],
        }),
        { logger, env: {} },
      );
      await postChat(
        local.url,
        { model: 'sim', messages, stream: true },
        { authorization: 'Bearer sk-secret-123456' },
      );
      await postChat(local.url, { model: 'sim', messages }, { authorization: 'Bearer sk-secret-wrong' });
      await local.close();
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.join('\n')).not.toContain('sk-secret');
    });
  });
});

describe('dev mode', () => {
  it('accepts loopback clients without a key and says it is in dev mode', async () => {
    const gateway = await startTestGateway();
    try {
      expect(gateway.context.auth.devMode).toBe(true);
      const response = await postChat(gateway.url, { model: 'sim', messages });
      expect(JSON.parse(response.body).choices[0].message.content).toBe(simText({ model: 'sim', messages }));
    } finally {
      await gateway.close();
    }
  });
});

import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { parseSse, rawRequest, startTestGateway } from './helpers.js';
import { startUpstream, type TestUpstream } from './messages-upstreams.js';

// An Anthropic-speaking upstream: a thinking block with its signature, an event type Spool does
// not know, then a text block with a citation, as Anthropic streams them.
const NATIVE_EVENTS: Array<{ event: string; data: Record<string, unknown> }> = [
  {
    event: 'message_start',
    data: {
      type: 'message_start',
      message: {
        id: 'msg_native1',
        type: 'message',
        role: 'assistant',
        model: 'claude-up',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 12, cache_read_input_tokens: 30, output_tokens: 1 },
      },
    },
  },
  { event: 'ping', data: { type: 'ping' } },
  {
    event: 'content_block_start',
    data: {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    },
  },
  {
    event: 'content_block_delta',
    data: {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'thinking_delta', thinking: 'Let me think.' },
    },
  },
  {
    event: 'content_block_delta',
    data: { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig-abc' } },
  },
  { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
  { event: 'future_event', data: { type: 'future_event', spool_knows_nothing: { nested: [1, 2, 3] } } },
  {
    event: 'content_block_start',
    data: { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
  },
  {
    event: 'content_block_delta',
    data: { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Native ' } },
  },
  {
    event: 'content_block_delta',
    data: { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'answer.' } },
  },
  { event: 'content_block_stop', data: { type: 'content_block_stop', index: 1 } },
  {
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 9 },
    },
  },
  { event: 'message_stop', data: { type: 'message_stop' } },
];

let upstream: TestUpstream;
let gateway: Gateway;

beforeAll(async () => {
  upstream = await startUpstream((received) =>
    received.url.endsWith('/count_tokens') ? { json: { input_tokens: 1234 } } : { events: NATIVE_EVENTS },
  );
  gateway = await startTestGateway({
    providers: {
      claude: { type: 'anthropic', baseURL: upstream.url, apiKey: 'sk-upstream' },
      sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 },
    },
    models: [
      { match: 'claude-*', provider: 'claude', upstreamModel: 'claude-up' },
      // The sim first; the Anthropic upstream only as failover.
      {
        match: 'mixed',
        targets: [
          { provider: 'sim', weight: 1 },
          { provider: 'claude', weight: 0, upstreamModel: 'claude-up' },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

const request = {
  model: 'claude-front',
  max_tokens: 2048,
  stream: true,
  thinking: { type: 'enabled', budget_tokens: 1024 },
  system: [{ type: 'text', text: 'Be exact.', cache_control: { type: 'ephemeral' } }],
  messages: [
    {
      role: 'user',
      content: [
        {
          type: 'document',
          source: { type: 'text', media_type: 'text/plain', data: 'Doc.' },
          citations: { enabled: true },
        },
      ],
    },
  ],
  a_field_from_the_future: { kept: true },
};

describe('native pass-through to an Anthropic upstream', () => {
  it('relays every event untouched (thinking, signature, an unknown event type), adding only SSE ids', async () => {
    const response = await rawRequest(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'interleaved-thinking-2025-05-14,context-1m-2025-08-07',
      },
      body: JSON.stringify(request),
    });
    expect(response.status).toBe(200);
    expect(response.headers['x-stream-id']).toMatch(/^str_/);
    const events = parseSse(response.body);
    expect(events).toEqual(
      NATIVE_EVENTS.map((event, index) => ({
        id: String(index + 1),
        event: event.event,
        data: JSON.stringify(event.data),
      })),
    );
  });

  it('passes the request body through as sent (model replaced) and forwards anthropic-version and anthropic-beta', async () => {
    const received = upstream.received.at(-1);
    expect(received?.url).toBe('/v1/messages');
    expect(received?.body).toEqual({ ...request, model: 'claude-up' });
    expect(received?.headers['anthropic-version']).toBe('2023-06-01');
    expect(received?.headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14,context-1m-2025-08-07');
    expect(received?.headers['x-api-key']).toBe('sk-upstream');
  });

  it('the SDK reads the thinking block, its signature and the text; a non-streamed answer keeps them too', async () => {
    const client = new Anthropic({ apiKey: 'unused-in-dev-mode', baseURL: gateway.url, maxRetries: 0 });
    const params = {
      model: 'claude-front',
      max_tokens: 2048,
      thinking: { type: 'enabled' as const, budget_tokens: 1024 },
      messages: [{ role: 'user' as const, content: 'Think, then answer.' }],
    };
    const streamed = await client.messages.stream(params).finalMessage();
    const created = await client.messages.create(params);
    for (const message of [streamed, created]) {
      expect(message.content).toEqual([
        { type: 'thinking', thinking: 'Let me think.', signature: 'sig-abc' },
        { type: 'text', text: 'Native answer.' },
      ]);
      expect(message.stop_reason).toBe('end_turn');
      expect(message.usage.output_tokens).toBe(9);
    }
    expect(created.id).toBe('msg_native1');
  });

  it('count_tokens is exact from an Anthropic upstream, and says so', async () => {
    const client = new Anthropic({ apiKey: 'unused-in-dev-mode', baseURL: gateway.url, maxRetries: 0 });
    const { data, response } = await client.messages
      .countTokens({ model: 'claude-front', messages: [{ role: 'user', content: 'Count me.' }] })
      .withResponse();
    expect(data.input_tokens).toBe(1234);
    expect(response.headers.get('x-spool-token-count')).toBe('exact');
    const received = upstream.received.at(-1);
    expect(received?.url).toBe('/v1/messages/count_tokens');
    expect(received?.body).toEqual({
      model: 'claude-up',
      messages: [{ role: 'user', content: 'Count me.' }],
    });
  });

  it('a request only a native upstream can honour goes to the native targets of its route; others are translated to the first', async () => {
    const post = (content: unknown) =>
      rawRequest(`${gateway.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'mixed',
          max_tokens: 100,
          stream: true,
          messages: [{ role: 'user', content }],
        }),
      });
    const before = upstream.received.length;
    const translated = parseSse((await post('Plain text goes to the sim.')).body);
    const text = translated
      .map((event) => (JSON.parse(event.data) as { delta?: { text?: string } }).delta?.text ?? '')
      .join('');
    expect(text).toContain('You asked: "Plain text goes to the sim."');
    expect(upstream.received.length).toBe(before);
    const native = parseSse(
      (await post([{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'D' } }]))
        .body,
    );
    expect(native.map((event) => event.event)).toEqual(NATIVE_EVENTS.map((event) => event.event));
    expect(upstream.received.length).toBe(before + 1);
  });

  it('count_tokens holds at most generation.maxBytes of an Anthropic upstream’s answer', async () => {
    const big = await startUpstream(() => ({
      json: { input_tokens: 5, padding: 'x'.repeat(2 * 1024 * 1024) },
    }));
    const bigGateway = await startTestGateway({
      providers: { claude: { type: 'anthropic', baseURL: big.url } },
      models: [{ match: '*', provider: 'claude' }],
      generation: { maxBytes: 1024 * 1024 },
    });
    try {
      const response = await rawRequest(`${bigGateway.url}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-x', messages: [{ role: 'user', content: 'Count me.' }] }),
      });
      expect(response.status).toBe(502);
      expect(JSON.parse(response.body)).toMatchObject({
        type: 'error',
        error: { type: 'api_error', message: expect.stringContaining('generation.maxBytes') },
      });
    } finally {
      await bigGateway.close();
      await big.close();
    }
  });

  it('a native upstream that ends after message_delta without message_stop is completed with message_stop', async () => {
    const cut = await startUpstream(() => ({ events: NATIVE_EVENTS.slice(0, -1) }));
    const cutGateway = await startTestGateway({
      providers: { claude: { type: 'anthropic', baseURL: cut.url } },
      models: [{ match: '*', provider: 'claude' }],
    });
    try {
      const response = await rawRequest(`${cutGateway.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...request, model: 'claude-x' }),
      });
      const events = parseSse(response.body);
      expect(events.at(-1)).toEqual({
        id: String(NATIVE_EVENTS.length),
        event: 'message_stop',
        data: '{"type":"message_stop"}',
      });
    } finally {
      await cutGateway.close();
      await cut.close();
    }
  });

  it('a native upstream cut before it finished ends with one event: error in Anthropic’s shape', async () => {
    const cut = await startUpstream(() => ({ events: NATIVE_EVENTS.slice(0, 9) }));
    const cutGateway = await startTestGateway({
      providers: { claude: { type: 'anthropic', baseURL: cut.url } },
      models: [{ match: '*', provider: 'claude' }],
    });
    try {
      const response = await rawRequest(`${cutGateway.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...request, model: 'claude-x' }),
      });
      const last = parseSse(response.body).at(-1);
      expect(last?.event).toBe('error');
      expect(JSON.parse(last?.data ?? '{}')).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    } finally {
      await cutGateway.close();
      await cut.close();
    }
  });

  it('an error the upstream sends before its first token, with or without an `event:` line, is an HTTP error in Anthropic’s shape', async () => {
    const overloaded = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    const answers: Array<Array<{ event?: string; data: unknown }>> = [
      [{ event: 'error', data: overloaded }],
      [{ data: overloaded }],
      [
        NATIVE_EVENTS[0] as { data: unknown },
        { event: 'ping', data: { type: 'ping' } },
        { data: overloaded },
      ],
      // The type is the data's wherever it sits, and whatever the event is named.
      [
        {
          event: 'x-other',
          data: '{"error":{"type":"overloaded_error","message":"Overloaded"},"type":"error"}',
        },
      ],
    ];
    const failing = await startUpstream(() => ({ events: answers.shift() ?? [] }));
    const failingGateway = await startTestGateway({
      providers: { claude: { type: 'anthropic', baseURL: failing.url } },
      models: [{ match: '*', provider: 'claude' }],
    });
    try {
      const replies: Array<{ status: number; body: unknown }> = [];
      for (let count = answers.length; count > 0; count--) {
        const response = await rawRequest(`${failingGateway.url}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
          body: JSON.stringify({ ...request, model: 'claude-x' }),
        });
        const json = String(response.headers['content-type']).startsWith('application/json');
        replies.push({ status: response.status, body: json ? JSON.parse(response.body) : response.body });
      }
      const [named, ...others] = replies;
      expect(named?.status).toBeGreaterThanOrEqual(500);
      expect(named?.body).toMatchObject({
        type: 'error',
        error: { message: expect.stringContaining('Overloaded') },
      });
      for (const other of others) expect(other).toEqual(named);
    } finally {
      await failingGateway.close();
      await failing.close();
    }
  });
});

import { readFileSync } from 'node:fs';
import { createOpenAI } from '@ai-sdk/openai';
import { type RedisServer, startRedisServer } from '@spool/testkit';
import { jsonSchema, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { parseSse, rawRequest, startTestGateway } from './helpers.js';
import {
  type ReceivedRequest,
  type ScriptedUpstream,
  startScriptedUpstream,
  textChunks,
  toolCallChunks,
  writeChatStream,
} from './scripted-upstream.js';

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
};

/** A chat upstream that calls get_weather first, and answers in text once it has the tool's result. */
function toolThenText(request: ReceivedRequest, response: import('node:http').ServerResponse): void {
  const messages = (request.body.messages ?? []) as Array<{ role: string; content?: unknown }>;
  const last = messages.at(-1);
  if (last?.role === 'tool') writeChatStream(response, textChunks(`It is ${String(last.content)} in Paris.`));
  else if (Array.isArray(request.body.tools) && request.body.tools.length > 0)
    writeChatStream(response, toolCallChunks('get_weather', '{"city":"Paris"}'));
  else writeChatStream(response, textChunks(`You said ${messages.length} messages.`));
}

describe('/v1/responses over a chat upstream that calls tools', () => {
  let upstream: ScriptedUpstream;
  let gateway: Gateway;
  let client: OpenAI;

  beforeAll(async () => {
    upstream = await startScriptedUpstream(toolThenText);
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

  it('round-trips a function call: function_call item, then function_call_output via previous_response_id, then text', async () => {
    const first = await client.responses.create({
      model: 'm',
      input: 'Weather in Paris?',
      tools: [weatherTool],
    });
    const call = first.output[0];
    expect(call).toMatchObject({
      type: 'function_call',
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
      call_id: 'call_abc',
    });
    expect(upstream.received.at(-1)?.body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: weatherTool.description,
          parameters: weatherTool.parameters,
          strict: true,
        },
      },
    ]);
    const second = await client.responses.create({
      model: 'm',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: 'call_abc', output: 'sunny' }],
      tools: [weatherTool],
    });
    expect(second.output_text).toBe('It is sunny in Paris.');
    expect(second.previous_response_id).toBe(first.id);
    const messages = upstream.received.at(-1)?.body.messages;
    expect(messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_abc',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_abc', content: 'sunny' },
    ]);
    const items = await client.responses.inputItems.list(second.id, { order: 'asc' });
    expect(items.data.map((item) => item.type)).toEqual(['message', 'function_call', 'function_call_output']);
  });

  it('streams function_call_arguments deltas and a done event with the whole arguments', async () => {
    const stream = await client.responses.create({
      model: 'm',
      input: 'Weather?',
      tools: [weatherTool],
      stream: true,
    });
    const types: string[] = [];
    let args = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.function_call_arguments.delta') args += event.delta;
      if (event.type === 'response.function_call_arguments.done') expect(event.arguments).toBe(args);
    }
    expect(args).toBe('{"city":"Paris"}');
    expect(types).toContain('response.output_item.done');
    expect(types.at(-1)).toBe('response.completed');
  });

  it('translates text.format json_schema to response_format and max_output_tokens to max_tokens', async () => {
    await client.responses.create({
      model: 'm',
      input: 'JSON please',
      max_output_tokens: 50,
      text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true } },
    });
    expect(upstream.received.at(-1)?.body).toMatchObject({
      max_tokens: 50,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object' }, strict: true },
      },
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('streams through the Vercel AI SDK default OpenAI provider (Responses API), a tool call included', async () => {
    const openai = createOpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused' });
    const result = streamText({
      model: openai('m'),
      prompt: 'Weather in Paris?',
      tools: {
        get_weather: tool({
          description: 'The weather in a city.',
          inputSchema: jsonSchema<{ city: string }>({
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
            additionalProperties: false,
          }),
          execute: async ({ city }) => (city === 'Paris' ? 'sunny' : 'unknown'),
        }),
      },
      stopWhen: stepCountIs(2),
    });
    let text = '';
    for await (const part of result.textStream) text += part;
    const steps = await result.steps;
    expect(steps[0]?.toolCalls.map((call) => [call.toolName, call.input])).toEqual([
      ['get_weather', { city: 'Paris' }],
    ]);
    expect(upstream.received.at(-1)?.path).toBe('/v1/chat/completions');
    expect(text).toBe('It is sunny in Paris.');
    // Both steps came to the gateway as Responses requests.
    const metrics = (await rawRequest(`${gateway.url}/metrics`)).body;
    expect(metrics).toMatch(/route="\/v1\/responses",status="200"\} [2-9]/);
  });
});

describe('/v1/responses when a chat upstream fails after its first token', () => {
  let upstream: ScriptedUpstream;
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startScriptedUpstream((request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = {
        id: 'c',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [{ index: 0, delta: { content: 'Half an ans' }, finish_reason: null }],
      };
      response.write(`data: ${JSON.stringify(chunk)}\n\n`);
      if ((request.body.messages as Array<{ content: string }>)[0]?.content === 'error')
        response.end(
          `data: ${JSON.stringify({ error: { message: 'upstream overloaded', type: 'server_error', code: 'overloaded', param: null } })}\n\n`,
        );
      // Ends short: no finish_reason, no [DONE] (a truncation, never read as complete).
      else response.end();
    });
    gateway = await startTestGateway({
      providers: { chat: { type: 'openai', baseURL: `${upstream.url}/v1` } },
      models: [{ match: '*', provider: 'chat' }],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('ends the stream with one error event (the SDK raises it) and the Response reads failed, for an error event and for a cut', async () => {
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    for (const [input, code] of [
      ['error', 'overloaded'],
      ['cut', 'upstream_error'],
    ] as const) {
      const raw = await rawRequest(`${gateway.url}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', input, stream: true }),
      });
      const events = parseSse(raw.body);
      expect(events.at(-1)?.event).toBe('error');
      expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({
        type: 'error',
        code,
        sequence_number: events.length - 1,
      });
      expect(events.filter((event) => event.event === 'error')).toHaveLength(1);
      const responseId = `resp_${String(raw.headers['x-stream-id']).slice(4)}`;
      const fetched = await client.responses.retrieve(responseId);
      expect(fetched.status).toBe('failed');
      expect(fetched.error?.code).toBe(code);
      const stream = await client.responses.create({ model: 'm', input, stream: true });
      await expect(
        (async () => {
          for await (const _event of stream);
        })(),
      ).rejects.toMatchObject({ code });
      await expect(client.responses.create({ model: 'm', input })).rejects.toMatchObject({ status: 502 });
    }
  });
});

describe('/v1/responses over an Anthropic Messages upstream (through the Anthropic translation)', () => {
  let upstream: ScriptedUpstream;
  let gateway: Gateway;

  beforeAll(async () => {
    const recorded = readFileSync(
      new URL('../src/providers/fixtures/anthropic-stream-tool-use.sse', import.meta.url),
      'utf8',
    );
    upstream = await startScriptedUpstream((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(recorded);
    });
    gateway = await startTestGateway({
      providers: { claude: { type: 'anthropic', baseURL: upstream.url, apiKey: 'sk-ant-test' } },
      models: [{ match: '*', provider: 'claude' }],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('streams a recorded Claude tool-use answer as Responses text and function_call items', async () => {
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const final = await client.responses
      .stream({ model: 'claude', input: 'Weather?', tools: [weatherTool] })
      .finalResponse();
    expect(upstream.received[0]?.path).toBe('/v1/messages');
    expect(final.output[0]?.type).toBe('message');
    expect(final.output_text).toContain('let me check the weather');
    const calls = final.output.filter((item) => item.type === 'function_call');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls[0]).toMatchObject({ name: 'get_weather', call_id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6' });
    expect(JSON.parse((calls[0] as { arguments: string }).arguments)).toHaveProperty('location');
    expect(final.usage?.input_tokens).toBe(472);
  });
});

/** A native Responses stream as OpenAI writes it, with a reasoning item and an event type Spool does not know. */
function nativeStream(upstreamId: string): string {
  const response = (status: string, output: unknown[]) => ({
    id: upstreamId,
    object: 'response',
    status,
    output,
    model: 'gpt-x',
  });
  const reasoning = { id: 'rs_1', type: 'reasoning', summary: [], encrypted_content: 'opaque' };
  const message = {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    status: 'completed',
    content: [{ type: 'output_text', text: 'Hi there', annotations: [] }],
  };
  const events: Array<Record<string, unknown>> = [
    { type: 'response.created', response: response('in_progress', []) },
    { type: 'response.in_progress', response: response('in_progress', []) },
    { type: 'response.output_item.added', output_index: 0, item: reasoning },
    { type: 'response.future_feature.delta', detail: { note: 'unknown to Spool' }, response_id: upstreamId },
    { type: 'response.output_item.done', output_index: 0, item: reasoning },
    {
      type: 'response.output_item.added',
      output_index: 1,
      item: { ...message, status: 'in_progress', content: [] },
    },
    {
      type: 'response.content_part.added',
      item_id: 'msg_1',
      output_index: 1,
      content_index: 0,
      part: { type: 'output_text', text: '', annotations: [] },
    },
    { type: 'response.output_text.delta', item_id: 'msg_1', output_index: 1, content_index: 0, delta: 'Hi' },
    {
      type: 'response.output_text.delta',
      item_id: 'msg_1',
      output_index: 1,
      content_index: 0,
      delta: ' there',
    },
    { type: 'response.output_item.done', output_index: 1, item: message },
    {
      type: 'response.completed',
      response: {
        ...response('completed', [reasoning, message]),
        usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
      },
    },
  ];
  return events
    .map(
      (event, index) =>
        `event: ${event.type}\ndata: ${JSON.stringify({ ...event, sequence_number: index + 100 })}\n\n`,
    )
    .join('');
}

describe('/v1/responses passed through to an upstream that speaks Responses', () => {
  let upstream: ScriptedUpstream;
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startScriptedUpstream((request, response) => {
      if (request.path !== '/v1/responses') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(nativeStream('resp_upstream123'));
    });
    gateway = await startTestGateway({
      providers: { openai: { type: 'openai', baseURL: `${upstream.url}/v1`, apis: ['chat', 'responses'] } },
      models: [{ match: '*', provider: 'openai' }],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('relays every event untouched but for Spool ids and sequence numbers, unknown event types and reasoning included', async () => {
    const raw = await rawRequest(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-x',
        input: 'Hi',
        stream: true,
        include: ['reasoning.encrypted_content'],
        custom_knob: 7,
      }),
    });
    expect(raw.status).toBe(200);
    const streamId = String(raw.headers['x-stream-id']);
    const responseId = `resp_${streamId.slice(4)}`;
    const events = parseSse(raw.body);
    const upstreamEvents = parseSse(nativeStream('resp_upstream123'));
    expect(events.map((event) => event.event)).toEqual(upstreamEvents.map((event) => event.event));
    events.forEach((event, index) => {
      expect(event.id).toBe(String(index));
      const expected = (upstreamEvents[index] as { data: string }).data
        .split('resp_upstream123')
        .join(responseId)
        .replace(/"sequence_number":\d+/, `"sequence_number":${index}`);
      expect(event.data).toBe(expected);
    });
    // The request went upstream as sent (unknown fields included), the stream flag Spool's own.
    expect(upstream.received.at(-1)).toMatchObject({
      path: '/v1/responses',
      body: {
        model: 'gpt-x',
        input: [{ type: 'message', role: 'user', content: 'Hi' }],
        include: ['reasoning.encrypted_content'],
        custom_knob: 7,
        stream: true,
      },
    });
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const fetched = await client.responses.retrieve(responseId);
    expect(fetched.id).toBe(responseId);
    expect(fetched.status).toBe('completed');
    expect(fetched.output_text).toBe('Hi there');
    expect(fetched.output[0]?.type).toBe('reasoning');
  });
});

describe('previous_response_id across two gateway instances sharing Redis', () => {
  let redis: RedisServer;
  let upstream: ScriptedUpstream;
  let a: Gateway;
  let b: Gateway;

  beforeAll(async () => {
    [redis, upstream] = await Promise.all([startRedisServer(), startScriptedUpstream(toolThenText)]);
    const config = {
      providers: { chat: { type: 'openai' as const, baseURL: `${upstream.url}/v1` } },
      models: [{ match: '*', provider: 'chat' }],
      spool: { store: 'redis' as const, redisUrl: redis.url, keyPrefix: `resp${Date.now()}:` },
    };
    [a, b] = await Promise.all([startTestGateway(config), startTestGateway(config)]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await upstream.close();
    await redis.stop();
  });

  it('continues on B a conversation whose first turn ran on A, and serves A’s response from B', async () => {
    const onA = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const onB = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const first = await onA.responses.create({ model: 'm', input: 'First turn', instructions: 'Be brief.' });
    expect(first.output_text).toBe('You said 2 messages.');
    const fetched = await onB.responses.retrieve(first.id);
    expect(fetched.output_text).toBe(first.output_text);
    const second = await onB.responses.create({
      model: 'm',
      input: 'Second turn',
      previous_response_id: first.id,
    });
    expect(upstream.received.at(-1)?.body.messages).toEqual([
      { role: 'user', content: 'First turn' },
      { role: 'assistant', content: 'You said 2 messages.' },
      { role: 'user', content: 'Second turn' },
    ]);
    expect(second.output_text).toBe('You said 3 messages.');
    const stored = await onA.responses.retrieve(second.id, { stream: true, starting_after: 2 });
    let text = '';
    for await (const event of stored) if (event.type === 'response.output_text.delta') text += event.delta;
    // Events 0-2 are created, in_progress and the message item: every text delta comes after them.
    expect(text).toBe(second.output_text);
  });
});

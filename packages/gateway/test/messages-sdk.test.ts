import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import { parseSse, rawRequest, startTestGateway } from './helpers.js';
import {
  chatTextStream,
  chatToolCallStream,
  startUpstream,
  type TestUpstream,
} from './messages-upstreams.js';

const ALICE = 'sk-alice-0123456789';
const LIMITED = 'sk-limited-0123456789';
const BOB = 'sk-bob-0123456789';

let gateway: Gateway;
let tools: TestUpstream;

/** The Anthropic SDK pointed at the gateway, without retries so error tests stay exact. */
function anthropic(apiKey = ALICE): Anthropic {
  return new Anthropic({ apiKey, baseURL: gateway.url, maxRetries: 0 });
}

beforeAll(async () => {
  // A chat upstream that calls get_weather first, then answers with text once it has the result.
  tools = await startUpstream((request) => {
    const messages = request.body.messages as Array<{ role: string }>;
    if (messages.at(-1)?.role === 'tool') return { events: chatTextStream(['It is ', '21C ', 'in Paris.']) };
    return { events: chatToolCallStream('call_w1', 'get_weather', ['{"city"', ':"Par', 'is"}']) };
  });
  gateway = await startTestGateway({
    keys: [
      { name: 'alice', key: ALICE },
      { name: 'limited', key: LIMITED, limits: { requestsPerMinute: 1 } },
      { name: 'bob', key: BOB, models: ['tool-*'] },
    ],
    providers: {
      sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 },
      tools: { type: 'openai', baseURL: `${tools.url}/v1` },
    },
    models: [
      { match: 'tool-model', provider: 'tools' },
      { match: 'sim*', provider: 'sim' },
    ],
    server: { faultInjection: true, bodyLimitBytes: 32 * 1024 },
    cors: { origins: ['https://app.example'] },
  });
});

afterAll(async () => {
  await gateway.close();
  await tools.close();
});

const prompt = 'Why do resumable streams matter?';
const expectedText = (maxTokens: number) =>
  simText({ model: 'sim', messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens });

describe('the official Anthropic SDK against /v1/messages (translated to the sim)', () => {
  it('messages.create answers a Message with the sim text, stop reason and usage', async () => {
    const message = await anthropic().messages.create({
      model: 'sim',
      max_tokens: 500,
      messages: [{ role: 'user', content: prompt }],
    });
    expect(message.type).toBe('message');
    expect(message.role).toBe('assistant');
    expect(message.model).toBe('sim');
    expect(message.id).toMatch(/^msg_/);
    expect(message.content).toEqual([{ type: 'text', text: expectedText(500) }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
  });

  it('reports max_tokens as the stop reason when the answer was cut at max_tokens', async () => {
    const message = await anthropic().messages.create({
      model: 'sim',
      max_tokens: 3,
      messages: [{ role: 'user', content: prompt }],
    });
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.content).toEqual([{ type: 'text', text: expectedText(3) }]);
  });

  it('messages.stream() streams the same text, with X-Stream-Id and SSE ids 1, 2, … on the wire', async () => {
    const stream = anthropic().messages.stream({
      model: 'sim',
      max_tokens: 500,
      messages: [{ role: 'user', content: prompt }],
    });
    const texts: string[] = [];
    stream.on('text', (text) => texts.push(text));
    const { response } = await stream.withResponse();
    expect(response.headers.get('x-stream-id')).toMatch(/^str_/);
    const final = await stream.finalMessage();
    expect(await stream.finalText()).toBe(expectedText(500));
    expect(texts.join('')).toBe(expectedText(500));
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBeGreaterThan(0);

    const raw = await rawRequest(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': ALICE, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'sim',
        max_tokens: 500,
        stream: true,
        messages: [{ role: 'user', content: prompt }],
      }),
    });
    const events = parseSse(raw.body);
    expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));
    for (const event of events) expect(JSON.parse(event.data).type).toBe(event.event);
    expect(events.at(-1)?.event).toBe('message_stop');
  });

  it('streams a tool call as tool_use with input_json_delta and completes the tool-result round trip', async () => {
    const client = anthropic();
    const weatherTool = {
      name: 'get_weather',
      description: 'The weather in a city',
      input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] },
    };
    const question = { role: 'user' as const, content: 'Weather in Paris?' };
    const stream = client.messages.stream({
      model: 'tool-model',
      max_tokens: 200,
      tools: [weatherTool],
      messages: [question],
    });
    const jsonFragments: string[] = [];
    stream.on('inputJson', (partial) => jsonFragments.push(partial));
    const call = await stream.finalMessage();
    expect(call.stop_reason).toBe('tool_use');
    expect(call.content).toEqual([
      { type: 'tool_use', id: 'call_w1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(jsonFragments.join('')).toBe('{"city":"Paris"}');

    const answer = await client.messages
      .stream({
        model: 'tool-model',
        max_tokens: 200,
        tools: [weatherTool],
        messages: [
          question,
          { role: 'assistant', content: call.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_w1', content: '21C, sunny' }] },
        ],
      })
      .finalMessage();
    expect(answer.content).toEqual([{ type: 'text', text: 'It is 21C in Paris.' }]);
    expect(answer.stop_reason).toBe('end_turn');
    // What the chat upstream was told: the tool as a function, the call and its result in chat's form.
    const second = tools.received.at(-1)?.body as { messages: unknown[]; tools: unknown[] };
    expect(second.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'The weather in a city',
          parameters: weatherTool.input_schema,
        },
      },
    ]);
    expect(second.messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_w1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_w1', content: '21C, sunny' },
    ]);
  });

  it('a non-streamed tool call comes back as a tool_use block', async () => {
    const message = await anthropic().messages.create({
      model: 'tool-model',
      max_tokens: 200,
      tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
      messages: [{ role: 'user', content: 'Weather?' }],
    });
    expect(message.content).toEqual([
      { type: 'tool_use', id: 'call_w1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
  });

  it('countTokens answers the gateway estimate and says it is one', async () => {
    const { data, response } = await anthropic()
      .messages.countTokens({
        model: 'sim',
        system: 'Be brief.',
        messages: [{ role: 'user', content: 'x'.repeat(400) }],
      })
      .withResponse();
    expect(data.input_tokens).toBe(Math.ceil((400 + 'Be brief.'.length) / 4));
    expect(response.headers.get('x-spool-token-count')).toBe('estimate');
  });

  it('a browser page on an allowed origin may send Anthropic’s headers (CORS preflight)', async () => {
    const preflight = await rawRequest(`${gateway.url}/v1/messages`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers':
          'x-api-key,anthropic-version,anthropic-beta,anthropic-dangerous-direct-browser-access',
      },
    });
    expect(preflight.status).toBe(204);
    const allowed = String(preflight.headers['access-control-allow-headers']).split(', ');
    for (const header of [
      'x-api-key',
      'anthropic-version',
      'anthropic-beta',
      'anthropic-dangerous-direct-browser-access',
    ])
      expect(allowed).toContain(header);
  });

  it('GET /v1/models answers Anthropic’s list shape to Anthropic clients', async () => {
    const page = await anthropic().models.list();
    const ids = page.data.map((model) => model.id);
    expect(ids).toContain('sim');
    expect(page.data[0]?.type).toBe('model');
  });
});

/** The SDK error a call throws. */
async function sdkError(call: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  try {
    await call;
  } catch (error) {
    if (error instanceof Anthropic.APIError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

const hello = { model: 'sim', max_tokens: 20, messages: [{ role: 'user' as const, content: 'hello' }] };

describe('errors in Anthropic’s shape, as the SDK reads them', () => {
  it('400 invalid_request_error for a request without max_tokens, naming the field', async () => {
    const error = await sdkError(anthropic().messages.create({ ...hello, max_tokens: undefined } as never));
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(error.message).toMatch(/max_tokens/);
  });

  it('400 invalid_request_error for a field a translated upstream cannot honour (top_k)', async () => {
    const error = await sdkError(anthropic().messages.create({ ...hello, top_k: 5 } as typeof hello));
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(error.message).toMatch(/top_k/);
  });

  it('401 authentication_error for an unknown x-api-key', async () => {
    const error = await sdkError(anthropic('sk-wrong-0123456789').messages.create(hello));
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('403 permission_error for a model the key may not use', async () => {
    const error = await sdkError(anthropic(BOB).messages.create(hello));
    expect(error).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(error.error).toMatchObject({ error: { type: 'permission_error' } });
  });

  it('404 not_found_error for a model the gateway does not serve', async () => {
    const error = await sdkError(anthropic().messages.create({ ...hello, model: 'claude-unknown' }));
    expect(error).toBeInstanceOf(Anthropic.NotFoundError);
    expect(error.error).toMatchObject({ error: { type: 'not_found_error' } });
  });

  it('413 request_too_large for a body over server.bodyLimitBytes', async () => {
    const error = await sdkError(
      anthropic().messages.create({ ...hello, messages: [{ role: 'user', content: 'x'.repeat(64 * 1024) }] }),
    );
    expect(error.status).toBe(413);
    expect(error.error).toMatchObject({ error: { type: 'request_too_large' } });
  });

  it('429 rate_limit_error with retry-after when the key is over its limit', async () => {
    await anthropic(LIMITED).messages.create(hello);
    const error = await sdkError(anthropic(LIMITED).messages.create(hello));
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect(error.error).toMatchObject({ error: { type: 'rate_limit_error' } });
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
  });

  it('500 api_error when the upstream fails', async () => {
    const error = await sdkError(
      anthropic().messages.create(hello, { headers: { 'x-spool-fault': 'status=500' } }),
    );
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect(error.status).toBe(500);
    expect(error.error).toMatchObject({ error: { type: 'api_error' } });
  });

  it('529 overloaded_error when every upstream is overloaded (503)', async () => {
    const error = await sdkError(
      anthropic().messages.create(
        { ...hello, stream: true },
        { headers: { 'x-spool-fault': 'status=503;retry-after=1' } },
      ),
    );
    expect(error.status).toBe(529);
    expect(error.error).toMatchObject({ error: { type: 'overloaded_error' } });
    expect(error.headers?.get('retry-after')).toBe('1');
  });

  it('routes of no one surface answer Anthropic clients (anthropic-version) in Anthropic’s shape', async () => {
    const error = await sdkError(anthropic('sk-wrong-0123456789').models.list());
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    const unknown = await rawRequest(`${gateway.url}/v1/nothing-here`, {
      headers: { 'anthropic-version': '2023-06-01' },
    });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    // Without the header, the same path answers OpenAI's shape as before.
    const openai = await rawRequest(`${gateway.url}/v1/nothing-here`);
    expect(JSON.parse(openai.body)).toMatchObject({ error: { code: 'not_found' } });
  });

  it('a non-streamed request whose upstream fails or drops mid-answer is a 5xx api_error, never a partial message', async () => {
    for (const fault of ['error-after=3', 'drop-after=3']) {
      const error = await sdkError(
        anthropic().messages.create(hello, { headers: { 'x-spool-fault': fault } }),
      );
      expect(error).toBeInstanceOf(Anthropic.InternalServerError);
      expect(error.error).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    }
  });

  it('an error after the first byte is one `event: error` in Anthropic’s shape that the SDK raises', async () => {
    const stream = anthropic().messages.stream(hello, { headers: { 'x-spool-fault': 'error-after=3' } });
    const error = await sdkError(stream.finalMessage());
    expect(error.error).toMatchObject({ type: 'error', error: { type: expect.any(String) } });
  });
});

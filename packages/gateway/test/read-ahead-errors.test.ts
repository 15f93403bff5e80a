import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { type RawResponse, rawRequest, startTestGateway } from './helpers.js';
import { startUpstream, type TestUpstream } from './messages-upstreams.js';
import { MESSAGE_START } from './native-streams.js';

/**
 * An upstream error read ahead of the first token, over real sockets: answered with the status and
 * the message the same error gets when the upstream answers it as HTTP, on every surface, and
 * retried elsewhere as such.
 */

const ANTHROPIC_OVERLOADED = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
const ANTHROPIC_RATE_LIMITED = {
  type: 'error',
  error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit.' },
};

/** A Messages stream that starts, pings, then fails with `error` before its first token. */
const failingStream = (error: unknown) => [
  { event: 'message_start', data: MESSAGE_START },
  { event: 'ping', data: { type: 'ping' } },
  { event: 'error', data: error },
];

const HEALTHY_STREAM = [
  { event: 'message_start', data: MESSAGE_START },
  {
    event: 'content_block_start',
    data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  },
  {
    event: 'content_block_delta',
    data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello from B.' } },
  },
  { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
  {
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 4 },
    },
  },
  { event: 'message_stop', data: { type: 'message_stop' } },
];

const UPSTREAM_RESPONSE = {
  id: 'resp_up',
  object: 'response',
  status: 'in_progress',
  output: [],
  model: 'gpt-up',
};
const RESPONSE_CREATED = {
  event: 'response.created',
  data: { type: 'response.created', response: UPSTREAM_RESPONSE, sequence_number: 0 },
};

/** What the upstream answers, by the model the gateway asked it for. */
const ANSWERS: Record<
  string,
  { status?: number; events?: Array<{ event?: string; data: unknown }>; json?: unknown }
> = {
  'claude-overloaded': { events: failingStream(ANTHROPIC_OVERLOADED) },
  'claude-http-529': { status: 529, json: ANTHROPIC_OVERLOADED },
  'claude-rate-limited': { events: failingStream(ANTHROPIC_RATE_LIMITED) },
  'claude-http-429': { status: 429, json: ANTHROPIC_RATE_LIMITED },
  'claude-healthy': { events: HEALTHY_STREAM },
  // Responses' error event is flat (https://platform.openai.com/docs/api-reference/responses-streaming/error).
  'gpt-error-rate-limited': {
    events: [
      RESPONSE_CREATED,
      {
        event: 'error',
        data: {
          type: 'error',
          code: 'rate_limit_exceeded',
          message: 'Slow down, please.',
          param: null,
          sequence_number: 1,
        },
      },
    ],
  },
  'gpt-error-server': {
    events: [
      RESPONSE_CREATED,
      {
        event: 'error',
        data: {
          type: 'error',
          code: 'server_error',
          message: 'The model crashed.',
          param: 'input',
          sequence_number: 1,
        },
      },
    ],
  },
  // A failed Response carries its error in `response.error`.
  'gpt-failed': {
    events: [
      RESPONSE_CREATED,
      {
        event: 'response.failed',
        data: {
          type: 'response.failed',
          response: {
            ...UPSTREAM_RESPONSE,
            status: 'failed',
            error: { code: 'server_error', message: 'The model fell over.' },
          },
          sequence_number: 1,
        },
      },
    ],
  },
};

let upstream: TestUpstream;
let gateway: Gateway;

/** A gateway in front of the upstream whose breakers open after `failureThreshold` failures. */
function startGateway(failureThreshold: number): Promise<Gateway> {
  return startTestGateway({
    providers: {
      claude: { type: 'anthropic', baseURL: upstream.url },
      'claude-b': { type: 'anthropic', baseURL: upstream.url },
      openai: { type: 'openai', baseURL: `${upstream.url}/v1`, apis: ['chat', 'responses'] },
    },
    models: [
      { match: 'claude-*', provider: 'claude' },
      { match: 'gpt-*', provider: 'openai' },
      ...(['overloaded', 'rate-limited'] as const).map((failure) => ({
        match: `failover-${failure}`,
        targets: [
          { provider: 'claude', weight: 1, upstreamModel: `claude-${failure}` },
          { provider: 'claude-b', weight: 0, upstreamModel: 'claude-healthy' },
        ],
      })),
    ],
    resilience: { breaker: { failureThreshold, cooldownMs: 60_000 } },
  });
}

beforeAll(async () => {
  upstream = await startUpstream(
    (received) => ANSWERS[String(received.body.model)] ?? { status: 500, json: {} },
  );
  // Breakers that never open, so that every request reaches the upstream.
  gateway = await startGateway(1_000_000);
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

type Surface = 'chat' | 'responses' | 'messages';

/** POSTs a streamed request of `surface` for `model`. */
function post(surface: Surface, model: string): Promise<RawResponse> {
  const body =
    surface === 'chat'
      ? { model, stream: true, messages: [{ role: 'user', content: 'Hi' }] }
      : surface === 'responses'
        ? { model, stream: true, input: 'Hi' }
        : { model, stream: true, max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] };
  const path = surface === 'chat' ? 'chat/completions' : surface;
  return rawRequest(`${gateway.url}/v1/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });
}

const answer = (response: RawResponse) => ({
  status: response.status,
  body: JSON.parse(response.body) as unknown,
});

describe('an Anthropic upstream error read ahead of the first token', () => {
  it.each([
    ['overloaded_error', 'claude-overloaded', 'claude-http-529', 503, 529, ANTHROPIC_OVERLOADED],
    ['rate_limit_error', 'claude-rate-limited', 'claude-http-429', 429, 429, ANTHROPIC_RATE_LIMITED],
  ])(
    'a streamed %s is answered as Anthropic answering it as HTTP is, on every surface',
    async (type, streamed, http, openAiStatus, messagesStatus, upstreamBody) => {
      for (const surface of ['chat', 'responses', 'messages'] as const) {
        const [fromStream, fromHttp] = [
          answer(await post(surface, streamed)),
          answer(await post(surface, http)),
        ];
        expect(fromStream, surface).toEqual(fromHttp);
        expect(fromStream.status, surface).toBe(surface === 'messages' ? messagesStatus : openAiStatus);
      }
      const { message } = upstreamBody.error;
      expect(answer(await post('messages', streamed)).body).toEqual({
        type: 'error',
        error: { type, message },
      });
      expect(answer(await post('chat', streamed)).body).toEqual({
        error: { message, type, code: null, param: null, provider: 'claude' },
      });
    },
  );

  it('the official SDKs see an overloaded upstream as overloaded (Anthropic: OverloadedError, 529; OpenAI: 503)', async () => {
    const anthropic = new Anthropic({ apiKey: 'unused', baseURL: gateway.url, maxRetries: 0 });
    const streamed = anthropic.messages
      .stream({ model: 'claude-overloaded', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] })
      .finalMessage();
    await expect(streamed).rejects.toBeInstanceOf(Anthropic.OverloadedError);
    await expect(streamed).rejects.toMatchObject({
      status: 529,
      error: { error: { type: 'overloaded_error' } },
    });
    const rateLimited = anthropic.messages
      .stream({ model: 'claude-rate-limited', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] })
      .finalMessage();
    await expect(rateLimited).rejects.toBeInstanceOf(Anthropic.RateLimitError);

    const openai = new OpenAI({ apiKey: 'unused', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const chat = openai.chat.completions.create({
      model: 'claude-overloaded',
      stream: true,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    await expect(chat).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(chat).rejects.toMatchObject({ status: 503, type: 'overloaded_error' });
    const limited = openai.responses.create({ model: 'claude-rate-limited', stream: true, input: 'Hi' });
    await expect(limited).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });

  it('fails over to the next upstream; a rate limit, as an HTTP 429, does not open the first one’s breaker', async () => {
    // Breakers that open after one failure: an overload is one, a rate limit is not.
    const strict = await startGateway(1);
    try {
      const anthropic = new Anthropic({ apiKey: 'unused', baseURL: strict.url, maxRetries: 0 });
      for (const failure of ['rate-limited', 'overloaded']) {
        const before = upstream.received.length;
        const message = await anthropic.messages
          .stream({
            model: `failover-${failure}`,
            max_tokens: 100,
            messages: [{ role: 'user', content: 'Hi' }],
          })
          .finalMessage();
        expect(message.content).toEqual([{ type: 'text', text: 'Hello from B.' }]);
        expect(upstream.received.slice(before).map((received) => received.body.model)).toEqual([
          `claude-${failure}`,
          'claude-healthy',
        ]);
        expect(strict.context.chain.breaker('claude').state, failure).toBe(
          failure === 'overloaded' ? 'open' : 'closed',
        );
      }
    } finally {
      await strict.close();
    }
  });
});

describe('a native Responses upstream error read ahead of the first token', () => {
  it('keeps the upstream’s message, code and param from its flat error event, a rate limit answered 429', async () => {
    expect(answer(await post('responses', 'gpt-error-rate-limited'))).toEqual({
      status: 429,
      body: {
        error: {
          message: 'Slow down, please.',
          type: expect.any(String),
          code: 'rate_limit_exceeded',
          param: null,
          provider: 'openai',
        },
      },
    });
    expect(answer(await post('responses', 'gpt-error-server'))).toEqual({
      status: 502,
      body: {
        error: {
          message: 'The model crashed.',
          type: expect.any(String),
          code: 'server_error',
          param: 'input',
          provider: 'openai',
        },
      },
    });
    const openai = new OpenAI({ apiKey: 'unused', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const limited = openai.responses.create({ model: 'gpt-error-rate-limited', stream: true, input: 'Hi' });
    await expect(limited).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expect(limited).rejects.toMatchObject({
      code: 'rate_limit_exceeded',
      message: expect.stringContaining('Slow down, please.'),
    });
  });

  it('answers a response.failed read ahead as an HTTP error with its response.error’s message and code', async () => {
    expect(answer(await post('responses', 'gpt-failed'))).toEqual({
      status: 502,
      body: {
        error: {
          message: 'The model fell over.',
          type: expect.any(String),
          code: 'server_error',
          param: null,
          provider: 'openai',
        },
      },
    });
  });
});

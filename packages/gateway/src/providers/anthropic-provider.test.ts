import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatCompletionRequest } from '@spool/protocol';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError, UpstreamError } from '../errors.js';
import { AnthropicProvider } from './anthropic-provider.js';
import { AnthropicStreamTranslator } from './anthropic-response.js';
import type { ProviderCallContext, UpstreamEvent } from './provider.js';
import { SseDecoder } from './sse-decoder.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const STREAM_SSE = fixture('anthropic-stream-tool-use.sse');
const EXPECTED_DATA = fixture('anthropic-stream-tool-use.expected.txt');

/** 2025-06-15T15:06:40.123Z: `created` must come out as 1750000000. */
const FIXED_NOW_MS = 1_750_000_000_123;

interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (request: ReceivedRequest, response: ServerResponse) => void;

const weatherRequest: ChatCompletionRequest = {
  model: 'claude-sonnet-4-5',
  messages: [
    { role: 'system', content: 'You are a weather assistant.' },
    { role: 'user', content: 'Weather in San Francisco and Paris?' },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather for a location.',
        parameters: {
          type: 'object',
          properties: { location: { type: 'string' }, unit: { type: 'string' } },
          required: ['location'],
        },
      },
    },
  ],
  stream: true,
  stream_options: { include_usage: true },
};

function callContext(signal = new AbortController().signal): ProviderCallContext {
  return { signal, requestId: 'req_anthropic_test', headers: {} };
}

async function collect(events: AsyncIterable<{ data: string; event?: string | undefined }>) {
  const out: Array<{ data: string; event?: string | undefined }> = [];
  for await (const event of events) out.push(event);
  return out;
}

function sseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const MESSAGE_START = sseEvent('message_start', {
  type: 'message_start',
  message: {
    id: 'msg_01Overloaded',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 12, output_tokens: 1 },
  },
});

describe('AnthropicProvider against a local Messages API server', () => {
  let server: Server;
  let baseURL: string;
  let handler: Handler;
  const received: ReceivedRequest[] = [];
  let provider: AnthropicProvider;

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => {
        body += chunk;
      });
      request.on('end', () => {
        const entry = {
          method: request.method ?? '',
          url: request.url ?? '',
          headers: request.headers,
          body,
        };
        received.push(entry);
        handler(entry, response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    provider = new AnthropicProvider({
      name: 'claude',
      baseURL,
      apiKey: 'sk-ant-test',
      now: () => FIXED_NOW_MS,
    });
  });

  afterEach(() => {
    received.length = 0;
    server.closeAllConnections();
  });

  afterAll(async () => {
    await provider.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function serveJson(status: number, body: unknown, headers: Record<string, string> = {}): Handler {
    return (_request, response) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
    };
  }

  it('translates a recorded tool-use stream into the expected OpenAI chunks, byte for byte', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      // Uneven writes split events, lines and the UTF-8 bytes of "—" across chunks.
      const bytes = Buffer.from(STREAM_SSE, 'utf8');
      for (let offset = 0; offset < bytes.length; offset += 37)
        response.write(bytes.subarray(offset, offset + 37));
      response.end();
    };
    const events = await collect(await provider.openStream(weatherRequest, callContext()));
    expect(`${events.map((event) => event.data).join('\n')}\n`).toBe(EXPECTED_DATA);
    expect(events.every((event) => event.event === undefined)).toBe(true);
  });

  it('stops a stream whose event grows past maxEventBytes with upstream_event_too_large', async () => {
    const bounded = new AnthropicProvider({ name: 'claude', baseURL, apiKey: 'k', maxEventBytes: 4096 });
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(MESSAGE_START);
      response.write(`event: content_block_delta\ndata: ${'x'.repeat(10_000)}`);
    };
    try {
      const failure = await collect(await bounded.openStream(weatherRequest, callContext())).catch(
        (caught: unknown) => caught,
      );
      expect(failure).toBeInstanceOf(UpstreamError);
      expect((failure as UpstreamError).code).toBe('upstream_event_too_large');
      expect((failure as UpstreamError).retryable).toBe(false);
    } finally {
      await bounded.close();
    }
  });

  it('sends the translated request to /v1/messages with x-api-key and anthropic-version', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(STREAM_SSE);
    };
    await collect(await provider.openStream(weatherRequest, callContext()));
    const [request] = received;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/v1/messages');
    expect(request?.headers['x-api-key']).toBe('sk-ant-test');
    expect(request?.headers['anthropic-version']).toBe('2023-06-01');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers.authorization).toBeUndefined();
    expect(JSON.parse(request?.body ?? '')).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      system: 'You are a weather assistant.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Weather in San Francisco and Paris?' }] }],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather for a location.',
          input_schema: {
            type: 'object',
            properties: { location: { type: 'string' }, unit: { type: 'string' } },
            required: ['location'],
          },
        },
      ],
      stream: true,
    });
  });

  it('answers 429 with its Retry-After as a retryable 429 in OpenAI shape', async () => {
    handler = serveJson(
      429,
      {
        type: 'error',
        error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit' },
      },
      { 'retry-after': '7' },
    );
    const error = await provider.openStream(weatherRequest, callContext()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    const upstream = error as UpstreamError;
    expect(upstream.status).toBe(429);
    expect(upstream.retryAfterSeconds).toBe(7);
    expect(upstream.retryable).toBe(true);
    expect(upstream.body).toEqual({
      error: {
        message: 'Number of requests has exceeded your rate limit',
        type: 'rate_limit_error',
        code: null,
        param: null,
      },
    });
  });

  it('answers 529 overloaded as a retryable 503', async () => {
    handler = serveJson(529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    const error = (await provider
      .openStream(weatherRequest, callContext())
      .catch((caught: unknown) => caught)) as UpstreamError;
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.status).toBe(503);
    expect(error.retryable).toBe(true);
    expect(error.body.error).toMatchObject({ type: 'overloaded_error', message: 'Overloaded' });
  });

  it('answers 401 (the gateway key refused) as a non-retryable 502 naming the provider', async () => {
    handler = serveJson(401, {
      type: 'error',
      error: { type: 'authentication_error', message: 'invalid x-api-key' },
    });
    const error = (await provider
      .complete({ ...weatherRequest, stream: false }, callContext())
      .catch((caught: unknown) => caught)) as UpstreamError;
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error.status).toBe(502);
    expect(error.retryable).toBe(false);
    expect(error.body.error.type).toBe('api_error');
    expect(error.body.error.message).toBe(
      `Upstream "claude" rejected the gateway's credentials: invalid x-api-key`,
    );
  });

  it('turns a mid-stream overloaded error event into one OpenAI error event and ends the stream', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(MESSAGE_START);
      response.write(
        sseEvent('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        }),
      );
      response.write(
        sseEvent('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: 'Hel' },
        }),
      );
      // Anthropic's documented shape; the response is left open: the provider must end on its own.
      response.write(
        'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n',
      );
    };
    const events = await collect(await provider.openStream(weatherRequest, callContext()));
    expect(events.map((event) => event.data)).toEqual([
      '{"id":"chatcmpl-msg_01Overloaded","object":"chat.completion.chunk","created":1750000000,"model":"claude-sonnet-4-5","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
      '{"id":"chatcmpl-msg_01Overloaded","object":"chat.completion.chunk","created":1750000000,"model":"claude-sonnet-4-5","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}',
      '{"error":{"message":"Overloaded","type":"overloaded_error","code":null,"param":null}}',
    ]);
  });

  it('runs a non-streamed completion and maps the message to a chat.completion', async () => {
    handler = serveJson(200, {
      id: 'msg_01NonStream',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5-20250929',
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { location: 'Paris, FR' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 30, output_tokens: 12 },
    });
    const result = await provider.complete({ ...weatherRequest, stream: false }, callContext());
    expect(JSON.parse(received[0]?.body ?? '').stream).toBeUndefined();
    expect(received[0]?.headers.accept).toBe('application/json');
    expect(result.body).toEqual({
      id: 'chatcmpl-msg_01NonStream',
      object: 'chat.completion',
      created: 1750000000,
      model: 'claude-sonnet-4-5',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Checking.',
            tool_calls: [
              {
                id: 'toolu_01A',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"location":"Paris, FR"}' },
              },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 },
    });
  });

  it('refuses an untranslatable request with a 400 before calling the upstream', async () => {
    const request: ChatCompletionRequest = {
      ...weatherRequest,
      messages: [
        { role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] },
      ],
    };
    const error = (await provider
      .openStream(request, callContext())
      .catch((caught: unknown) => caught)) as GatewayError;
    expect(error).toBeInstanceOf(GatewayError);
    expect(error.status).toBe(400);
    expect(error.body.error).toMatchObject({ code: 'invalid_request', param: 'messages[0].content[0]' });
    expect(received).toHaveLength(0);
  });

  it('lists models from GET /v1/models as OpenAI model entries, under a base path', async () => {
    handler = serveJson(200, {
      data: [
        {
          type: 'model',
          id: 'claude-sonnet-4-5-20250929',
          display_name: 'Claude Sonnet 4.5',
          created_at: '2025-09-29T00:00:00Z',
        },
        { type: 'model', id: 'claude-haiku-4-5', display_name: 'Claude Haiku 4.5' },
      ],
      has_more: false,
      first_id: 'claude-sonnet-4-5-20250929',
      last_id: 'claude-haiku-4-5',
    });
    const proxied = new AnthropicProvider({ name: 'proxied', baseURL: `${baseURL}/anthropic/`, apiKey: 'k' });
    try {
      const models = await proxied.listModels(new AbortController().signal);
      expect(received[0]?.url).toBe('/anthropic/v1/models?limit=1000');
      expect(received[0]?.headers['x-api-key']).toBe('k');
      expect(models).toEqual([
        { id: 'claude-sonnet-4-5-20250929', object: 'model', created: 1759104000, owned_by: 'anthropic' },
        { id: 'claude-haiku-4-5', object: 'model', created: 0, owned_by: 'anthropic' },
      ]);
      await expect(proxied.checkReady(new AbortController().signal)).resolves.toBeUndefined();
    } finally {
      await proxied.close();
    }
  });

  it('fails checkReady when the upstream refuses the key', async () => {
    handler = serveJson(401, { type: 'error', error: { type: 'authentication_error', message: 'no' } });
    await expect(provider.checkReady(new AbortController().signal)).rejects.toMatchObject({ status: 502 });
  });

  it('maps a refused connection to upstream_unreachable', async () => {
    const nowhere = new AnthropicProvider({ name: 'nowhere', baseURL: 'http://127.0.0.1:1' });
    try {
      await expect(nowhere.openStream(weatherRequest, callContext())).rejects.toMatchObject({
        status: 502,
        code: 'upstream_unreachable',
      });
    } finally {
      await nowhere.close();
    }
  });
});

describe('the recorded stream through the SSE decoder and translator', () => {
  it('yields the same OpenAI chunks for any split of the byte stream', async () => {
    const bytes = Buffer.from(STREAM_SSE, 'utf8');
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }),
        async (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
          const chunks = points.slice(1).map((end, index) => bytes.subarray(points[index], end));
          const translator = new AnthropicStreamTranslator({
            model: 'claude-sonnet-4-5',
            includeUsage: true,
            now: () => FIXED_NOW_MS,
          });
          const out: string[] = [];
          const decoder = new SseDecoder();
          const events: UpstreamEvent[] = [];
          for (const chunk of chunks) decoder.feed(chunk, events);
          decoder.end(events);
          for (const event of events) out.push(...translator.push(event));
          expect(`${out.join('\n')}\n`).toBe(EXPECTED_DATA);
        },
      ),
      { numRuns: 100 },
    );
  });
});

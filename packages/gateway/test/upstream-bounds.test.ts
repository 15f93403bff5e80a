import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Gateway, GatewayConfigInput } from '../src/index.js';
import type { MemoryUsageLedger } from '../src/usage/memory-usage-ledger.js';
import { type ParsedEvent, parseSse, postChat, startTestGateway, textOf } from './helpers.js';

/**
 * A hand-written OpenAI-compatible upstream that misbehaves on request: each test names its
 * scenario as the model. Over real sockets: the gateway's undici pool talks to this server.
 */
const messages = [{ role: 'user' as const, content: 'Misbehave, please.' }];
const TOOL_ARGUMENTS = JSON.stringify({ blob: 'a'.repeat(1024 * 1024) });

function chunk(delta: Record<string, unknown>, finishReason: string | null = null): string {
  return JSON.stringify({
    id: 'chatcmpl-bounds',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'hand-written',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
}

const data = (payload: string) => `data: ${payload}\n\n`;

/** Writes `next()` until it returns undefined or the connection closes, waiting for drains. */
function flood(response: ServerResponse, next: () => string | undefined): void {
  const write = () => {
    for (;;) {
      if (response.destroyed) return;
      const piece = next();
      if (piece === undefined) return;
      if (!response.write(piece)) {
        response.once('drain', write);
        return;
      }
    }
  };
  write();
}

const SCENARIOS: Record<string, (response: ServerResponse) => void> = {
  'big-tool-call': (response) => {
    response.write(data(chunk({ role: 'assistant', content: null })));
    const event = data(
      chunk({
        tool_calls: [
          { index: 0, id: 'call_1', type: 'function', function: { name: 'save', arguments: TOOL_ARGUMENTS } },
        ],
      }),
    );
    // In 16 KiB writes, as a real upstream streams it.
    let offset = 0;
    flood(response, () => {
      if (offset >= event.length) {
        response.end(data(chunk({}, 'tool_calls')) + data('[DONE]'));
        return undefined;
      }
      offset += 16 * 1024;
      return event.slice(offset - 16 * 1024, offset);
    });
  },
  'stalled-big-event': (response) => {
    response.write(data(chunk({ role: 'assistant', content: 'Hi' })));
    // 200 KB of an event that never ends, then silence.
    response.write(`data: {"choices":[{"index":0,"delta":{"content":"${'s'.repeat(200 * 1024)}`);
  },
  'endless-event': (response) => {
    response.write(data(chunk({ role: 'assistant', content: 'Hi' })));
    response.write('data: {"choices":[{"index":0,"delta":{"content":"');
    flood(response, () => 'x'.repeat(4096));
  },
  garbage: (response) => {
    response.write(data(chunk({ role: 'assistant', content: 'Hello' })));
    response.write(data('{"choices": [oops'));
    response.end(data(chunk({ content: ' never seen' })) + data(chunk({}, 'stop')) + data('[DONE]'));
  },
  'not-a-chunk': (response) => {
    response.write(data(chunk({ role: 'assistant', content: 'Hello' })));
    response.end(data('[1, 2, 3]') + data('[DONE]'));
  },
  named: (response) => {
    response.end(
      `event: message\ndata: ${chunk({ role: 'assistant', content: 'Hel' })}\n\n` +
        ': a comment\n\n' +
        'event: ping\ndata: {"type": "ping"}\n\n' +
        `event: delta\ndata: ${chunk({ content: 'lo' })}\n\n` +
        'event: ping\ndata:\n\n' +
        'event: metadata\ndata: {"note": "an extension of this upstream"}\n\n' +
        data(chunk({ content: '!' })) +
        `event: done\ndata: ${chunk({}, 'stop')}\n\n` +
        data('[DONE]'),
    );
  },
  'error-event': (response) => {
    response.write(data(chunk({ role: 'assistant', content: 'Hel' })));
    response.end(
      'event: error\ndata: {"error": {"message": "The model is overloaded", "type": "overloaded_error"}}\n\n',
    );
  },
  'error-text-event': (response) => {
    response.write(data(chunk({ role: 'assistant', content: 'Hel' })));
    response.end('event: error\ndata: upstream exploded\n\n');
  },
  'endless-silent': (response) => {
    response.write(data(chunk({ role: 'assistant', content: 'Hi' })));
  },
  'endless-flood': (response) => {
    response.write(data(chunk({ role: 'assistant', content: '' })));
    flood(response, () => data(chunk({ content: 'more ' })));
  },
};

let upstream: Server;
let baseURL: string;
/** Resolves when the upstream connection that served a scenario closes. */
const closedSockets = new Map<string, { promise: Promise<void>; resolve: () => void }>();

function socketClosed(model: string): Promise<void> {
  let entry = closedSockets.get(model);
  if (!entry) {
    let resolve = () => {};
    const promise = new Promise<void>((done) => {
      resolve = done;
    });
    entry = { promise, resolve };
    closedSockets.set(model, entry);
  }
  return entry.promise;
}

async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
  let body = '';
  for await (const piece of request) body += piece;
  const { model, stream } = JSON.parse(body) as { model: string; stream?: boolean };
  void socketClosed(model);
  request.socket.once('close', () => closedSockets.get(model)?.resolve());
  // The gateway resets connections it gives up on.
  request.socket.on('error', () => {});
  if (stream !== true) {
    // A non-streamed answer that never ends.
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write('{"choices":[{"index":0,"message":{"role":"assistant","content":"');
    flood(response, () => 'y'.repeat(4096));
    return;
  }
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  const scenario = SCENARIOS[model];
  if (!scenario) response.end(data(chunk({ content: `unknown scenario ${model}` }, 'stop')) + data('[DONE]'));
  else scenario(response);
}

beforeAll(async () => {
  upstream = createServer((request, response) => void serve(request, response));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
});

afterAll(() => {
  upstream.closeAllConnections();
  upstream.close();
});

function gatewayOn(
  generation: GatewayConfigInput['generation'] = {},
  upstreamOptions: { idleTimeoutMs?: number } = {},
): Promise<Gateway> {
  return startTestGateway({
    providers: { upstream: { type: 'openai', baseURL, ...upstreamOptions } },
    models: [{ match: '*', provider: 'upstream' }],
    generation,
  });
}

async function stream(gateway: Gateway, model: string): Promise<ParsedEvent[]> {
  const response = await postChat(gateway.url, { model, messages, stream: true });
  expect(response.status).toBe(200);
  const events = parseSse(response.body);
  expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));
  return events;
}

function errorOf(event: ParsedEvent | undefined): { code: string; message: string; type: string } {
  return JSON.parse(event?.data ?? '{}').error;
}

/** Every event a chat client gets is unnamed, and `[DONE]`, a chunk, or one final error. */
function expectChatFormat(events: readonly ParsedEvent[]): void {
  for (const [index, event] of events.entries()) {
    expect(event.event).toBeUndefined();
    if (event.data === '[DONE]') continue;
    const parsed = JSON.parse(event.data);
    if (parsed.error !== undefined) expect(index).toBe(events.length - 1);
    else expect(Array.isArray(parsed.choices)).toBe(true);
  }
}

describe('upstream events larger than the read window', () => {
  let gateway: Gateway;
  let tight: Gateway;

  beforeAll(async () => {
    gateway = await gatewayOn();
    tight = await gatewayOn({ maxEventBytes: 64 * 1024 });
  });

  afterAll(async () => {
    await Promise.all([gateway.close(), tight.close()]);
  });

  it("relays a 1 MB event (a big tool call's arguments) intact", async () => {
    const events = await stream(gateway, 'big-tool-call');
    expect(events.map((event) => event.data.length > 1024 * 1024)).toEqual([false, true, false, false]);
    expect(JSON.parse(events[1]?.data ?? '{}').choices[0].delta.tool_calls[0].function.arguments).toBe(
      TOOL_ARGUMENTS,
    );
    expect(events.at(-1)?.data).toBe('[DONE]');
  });

  it('ends a stream whose event grows past maxEventBytes with one error event and closes the upstream', async () => {
    const closed = socketClosed('endless-event');
    const events = await stream(tight, 'endless-event');
    expect(events).toHaveLength(2);
    expect(textOf(events.slice(0, 1))).toBe('Hi');
    expect(errorOf(events[1])).toMatchObject({ code: 'upstream_event_too_large' });
    expect(errorOf(events[1]).message).toContain('generation.maxEventBytes');
    await closed;
  });

  it('times out an upstream that stalls inside a large event (the socket is not left paused)', async () => {
    const impatient = await gatewayOn({}, { idleTimeoutMs: 300 });
    try {
      const closed = socketClosed('stalled-big-event');
      const events = await stream(impatient, 'stalled-big-event');
      expect(events).toHaveLength(2);
      expect(errorOf(events[1])).toMatchObject({ code: 'upstream_timeout' });
      await closed;
    } finally {
      await impatient.close();
    }
  });
});

describe('chat events normalized to OpenAI chunks', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await gatewayOn();
  });

  afterAll(async () => {
    await gateway.close();
  });

  it('ends with one upstream_protocol_error event instead of relaying invalid JSON', async () => {
    const events = await stream(gateway, 'garbage');
    expectChatFormat(events);
    expect(events).toHaveLength(2);
    expect(textOf(events.slice(0, 1))).toBe('Hello');
    expect(errorOf(events[1])).toMatchObject({ code: 'upstream_protocol_error', type: 'api_error' });
    expect(errorOf(events[1]).message).toContain('{\\"choices\\": [oops');
  });

  it('ends with upstream_protocol_error on JSON that is not a chunk', async () => {
    const events = await stream(gateway, 'not-a-chunk');
    expectChatFormat(events);
    expect(errorOf(events.at(-1))).toMatchObject({ code: 'upstream_protocol_error' });
  });

  it('strips upstream event names and drops pings, so EventSource.onmessage gets every token', async () => {
    const events = await stream(gateway, 'named');
    expectChatFormat(events);
    expect(textOf(events)).toBe('Hello!');
    expect(events).toHaveLength(5);
    expect(events.at(-1)?.data).toBe('[DONE]');
  });

  it("turns an upstream `event: error` into the gateway's error event with the upstream's message", async () => {
    const events = await stream(gateway, 'error-event');
    expectChatFormat(events);
    expect(events).toHaveLength(2);
    expect(errorOf(events[1])).toEqual({
      message: 'The model is overloaded',
      type: 'overloaded_error',
      code: 'upstream_error',
      param: null,
    });
    const text = await stream(gateway, 'error-text-event');
    expect(errorOf(text.at(-1))).toMatchObject({ message: 'upstream exploded', code: 'upstream_error' });
  });

  it('lets the official openai SDK read named events and pings through the gateway without throwing', async () => {
    const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const completion = await openai.chat.completions.create({ model: 'named', messages, stream: true });
    let text = '';
    for await (const part of completion) text += part.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello!');
  });

  it('gives the openai SDK an APIError, not a JSON parse error, for an upstream that breaks the format', async () => {
    const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const completion = await openai.chat.completions.create({ model: 'garbage', messages, stream: true });
    let text = '';
    const consume = async () => {
      for await (const part of completion) text += part.choices[0]?.delta.content ?? '';
    };
    const failure = await consume().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as InstanceType<typeof OpenAI.APIError>).code).toBe('upstream_protocol_error');
    expect(text).toBe('Hello');
  });
});

describe('generation limits', () => {
  let brief: Gateway;
  let small: Gateway;

  beforeAll(async () => {
    brief = await gatewayOn({ maxDurationMs: 200 });
    small = await gatewayOn({ maxBytes: 100_000 });
  });

  afterAll(async () => {
    await Promise.all([brief.close(), small.close()]);
  });

  function records(gateway: Gateway) {
    return (gateway.context.ledger as MemoryUsageLedger).records();
  }

  it('ends a generation that runs past maxDurationMs with generation_limit_exceeded and records its usage', async () => {
    const closed = socketClosed('endless-silent');
    const events = await stream(brief, 'endless-silent');
    expect(textOf(events.slice(0, -1))).toBe('Hi');
    expect(errorOf(events.at(-1))).toMatchObject({ code: 'generation_limit_exceeded' });
    expect(errorOf(events.at(-1)).message).toContain('generation.maxDurationMs');
    await closed;
    await vi.waitFor(() => expect(records(brief)).toHaveLength(1));
    expect(records(brief)[0]).toMatchObject({
      outcome: 'failed',
      completionTokens: 1,
      model: 'endless-silent',
    });
    expect(brief.context.relay.activeCount).toBe(0);
  });

  it('ends a generation that spools past maxBytes with generation_limit_exceeded and records its usage', async () => {
    const closed = socketClosed('endless-flood');
    const response = await postChat(small.url, { model: 'endless-flood', messages, stream: true });
    // Bounded: what was spooled before the limit, plus at most the last batch and the error event.
    expect(response.body.length).toBeLessThan(100_000 + 256 * 1024);
    const events = parseSse(response.body);
    expect(errorOf(events.at(-1))).toMatchObject({ code: 'generation_limit_exceeded' });
    expect(errorOf(events.at(-1)).message).toContain('generation.maxBytes');
    await closed;
    await vi.waitFor(() => expect(records(small)).toHaveLength(1));
    const [record] = records(small);
    expect(record?.outcome).toBe('failed');
    expect(record?.completionTokens).toBe(textOf(events.slice(0, -1)).split('more ').length - 1);
  });

  it('answers 502 generation_limit_exceeded to a non-streamed answer past maxBytes and closes the upstream', async () => {
    const closed = socketClosed('endless-json');
    const response = await postChat(small.url, { model: 'endless-json', messages });
    expect(response.status).toBe(502);
    expect(JSON.parse(response.body).error).toMatchObject({ code: 'generation_limit_exceeded' });
    await closed;
  });
});

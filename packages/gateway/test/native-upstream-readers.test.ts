import { APIError as AnthropicAPIError } from '@anthropic-ai/sdk';
import { Stream as AnthropicStream } from '@anthropic-ai/sdk/streaming';
import fc from 'fast-check';
import { APIError as OpenAIAPIError } from 'openai';
import { Stream as OpenAIStream } from 'openai/streaming';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { type ParsedEvent, parseSse, rawRequest, startTestGateway } from './helpers.js';
import {
  expectClientStream,
  expectedStream,
  MAX_EVENT_BYTES,
  MESSAGE_START,
  type NativeSurface,
  nativeStream,
  openingBlocks,
  streamBytes,
} from './native-streams.js';
import { split, tick } from './scripted-dispatcher.js';
import { type ScriptedUpstream, startScriptedUpstream } from './scripted-upstream.js';

/**
 * The native upstream readers (Responses from an `openai` upstream, Messages from an `anthropic`
 * one) over real sockets, against upstreams that misbehave: data that is not JSON or not the
 * surface's shape, events with no `event:` line, a model that echoes its Response id.
 */

/** What the scripted upstream answers next: its body in these writes. */
let script: ReadonlyArray<string | Buffer> = [];

let upstream: ScriptedUpstream;
let gateway: Gateway;

beforeAll(async () => {
  upstream = await startScriptedUpstream((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    const pieces = [...script];
    // A turn between writes, so that the gateway reads them apart (as often as the kernel lets it).
    const write = async () => {
      for (const piece of pieces) {
        if (response.destroyed) return;
        response.write(piece);
        await tick();
      }
      response.end();
    };
    void write();
  });
  gateway = await startTestGateway({
    providers: {
      openai: { type: 'openai', baseURL: `${upstream.url}/v1`, apis: ['chat', 'responses'] },
      claude: { type: 'anthropic', baseURL: upstream.url },
    },
    models: [
      { match: 'gpt-*', provider: 'openai' },
      { match: 'claude-*', provider: 'claude' },
    ],
    generation: { maxEventBytes: MAX_EVENT_BYTES },
  });
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

const sse = (data: unknown, event?: string) =>
  `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

/** POSTs a request of `surface` to the gateway, streamed unless `stream` is false. */
function post(surface: NativeSurface, stream = true) {
  const body =
    surface === 'responses'
      ? { model: 'gpt-x', input: 'Hi', stream }
      : { model: 'claude-x', max_tokens: 100, stream, messages: [{ role: 'user', content: 'Hi' }] };
  return rawRequest(`${gateway.url}/v1/${surface}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function postResponses(): Promise<{ events: ParsedEvent[]; responseId: string; body: string }> {
  const raw = await post('responses');
  expect(raw.status).toBe(200);
  return {
    events: parseSse(raw.body),
    responseId: `resp_${String(raw.headers['x-stream-id']).slice(4)}`,
    body: raw.body,
  };
}

async function postMessages(): Promise<ParsedEvent[]> {
  return parseSse(await postMessagesRaw());
}

async function postMessagesRaw(): Promise<string> {
  const raw = await post('messages');
  expect(raw.status).toBe(200);
  return raw.body;
}

const UPSTREAM_ID = 'resp_upstream42';
const upstreamResponse = (status: string, output: unknown[] = []) => ({
  id: UPSTREAM_ID,
  object: 'response',
  status,
  output,
  model: 'gpt-x',
});
const responsesEvent = (payload: Record<string, unknown>) => sse(payload, payload.type as string);

describe('a native Responses upstream', () => {
  it('keeps output text that names the upstream Response id as the model wrote it; only id fields are Spool’s', async () => {
    const echoed = `My id is ${UPSTREAM_ID}, and "id":"${UPSTREAM_ID}" too.`;
    const message = {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text: echoed, annotations: [] }],
    };
    script = [
      responsesEvent({ type: 'response.created', response: upstreamResponse('in_progress') }),
      responsesEvent({
        type: 'response.output_item.added',
        output_index: 0,
        item: { ...message, content: [] },
      }),
      responsesEvent({
        type: 'response.output_text.delta',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        delta: echoed,
      }),
      responsesEvent({ type: 'response.output_item.done', output_index: 0, item: message }),
      responsesEvent({ type: 'response.completed', response: upstreamResponse('completed', [message]) }),
    ];
    const { events, responseId } = await postResponses();
    const payloads = events.map((event) => JSON.parse(event.data));
    expect(payloads.map((payload) => payload.type)).toEqual([
      'response.created',
      'response.output_item.added',
      'response.output_text.delta',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(payloads[0].response.id).toBe(responseId);
    expect(payloads[2].delta).toBe(echoed);
    expect(payloads[3].item.content[0].text).toBe(echoed);
    expect(payloads[4].response.id).toBe(responseId);
    expect(payloads[4].response.output[0].content[0].text).toBe(echoed);
  });

  it('ends with one upstream_protocol_error event, numbered as the next, when the upstream sends data that is not JSON', async () => {
    script = [
      responsesEvent({ type: 'response.created', response: upstreamResponse('in_progress') }),
      sse('oops, not JSON', 'response.output_text.delta'),
      responsesEvent({ type: 'response.completed', response: upstreamResponse('completed') }),
    ];
    const { events } = await postResponses();
    expect(events.map((event) => event.event)).toEqual(['response.created', 'error']);
    expect(events[1]?.id).toBe('1');
    expect(JSON.parse(events[1]?.data ?? '')).toMatchObject({
      type: 'error',
      code: 'upstream_protocol_error',
      sequence_number: 1,
    });
  });

  it('gives an event whose only sequence_number is nested its own top-level one', async () => {
    script = [
      responsesEvent({ type: 'response.created', response: upstreamResponse('in_progress') }),
      responsesEvent({ type: 'response.future_feature', detail: { sequence_number: 7 } }),
      responsesEvent({ type: 'response.completed', response: upstreamResponse('completed') }),
    ];
    const { events } = await postResponses();
    const future = JSON.parse(events[1]?.data ?? '');
    expect(future).toEqual({
      type: 'response.future_feature',
      detail: { sequence_number: 7 },
      sequence_number: 1,
    });
  });
});

describe('a native Responses upstream that fails before its first token', () => {
  it('is answered with the same HTTP error whether its error event has an `event:` line or only its type', async () => {
    const failure = { type: 'error', code: 'server_error', message: 'boom', param: null };
    const created = responsesEvent({ type: 'response.created', response: upstreamResponse('in_progress') });
    const replies: Array<{ status: number; body: string }> = [];
    for (const writes of [
      [created, sse(failure, 'error')],
      [created, sse(failure)],
    ]) {
      script = writes;
      const response = await post('responses');
      replies.push({ status: response.status, body: response.body });
    }
    expect(replies[0]?.status).toBe(502);
    expect(JSON.parse(replies[0]?.body ?? '')).toMatchObject({ error: { type: expect.any(String) } });
    expect(replies[1]).toEqual(replies[0]);
  });
});

describe('a non-streamed request to a native upstream that sends data that is not JSON', () => {
  it('is answered 502 in its surface’s shape, naming upstream_protocol_error', async () => {
    script = [
      responsesEvent({ type: 'response.created', response: upstreamResponse('in_progress') }),
      responsesEvent({ type: 'response.output_item.added', output_index: 0, item: { type: 'message' } }),
      sse('oops', 'response.output_text.delta'),
    ];
    const responses = await post('responses', false);
    expect(responses.status).toBe(502);
    expect(JSON.parse(responses.body)).toMatchObject({
      error: { message: expect.stringContaining('is not JSON'), type: expect.any(String) },
    });
    script = [
      sse(MESSAGE_START, 'message_start'),
      sse(
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        'content_block_start',
      ),
      sse('oops', 'content_block_delta'),
    ];
    const messages = await post('messages', false);
    expect(messages.status).toBe(502);
    expect(JSON.parse(messages.body)).toEqual({
      type: 'error',
      error: { type: 'api_error', message: expect.stringContaining('upstream_protocol_error') },
    });
  });
});

describe('a native Messages upstream', () => {
  const start = MESSAGE_START;
  const blockStart = { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } };
  const delta = { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } };
  const finish = {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { output_tokens: 2 },
  };

  it('names an event sent without an `event:` line by its type, wherever the type sits in its data', async () => {
    script = [
      sse(start, 'message_start'),
      sse(blockStart, 'content_block_start'),
      sse(delta, 'content_block_delta'),
      sse('{"index":0,"type":"content_block_stop"}'),
      sse(finish, 'message_delta'),
      sse('{"type":"message_stop"}', 'message_stop'),
    ];
    const events = await postMessages();
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events[3]).toEqual({
      id: '4',
      event: 'content_block_stop',
      data: '{"index":0,"type":"content_block_stop"}',
    });
  });

  it('ends with one error event in Anthropic’s shape when the upstream sends data that is not JSON', async () => {
    script = [
      sse(start, 'message_start'),
      sse(blockStart, 'content_block_start'),
      sse(delta, 'content_block_delta'),
      sse('oops', 'content_block_delta'),
    ];
    const events = await postMessages();
    expect(events.map((event) => [event.id, event.event])).toEqual([
      ['1', 'message_start'],
      ['2', 'content_block_start'],
      ['3', 'content_block_delta'],
      ['4', 'error'],
    ]);
    expect(JSON.parse(events[3]?.data ?? '')).toMatchObject({
      type: 'error',
      error: { type: 'api_error', message: expect.stringContaining('upstream_protocol_error') },
    });
  });

  it('ends with one error event when a known event has the wrong shape (a number where an object belongs)', async () => {
    script = [
      sse(start, 'message_start'),
      sse(blockStart, 'content_block_start'),
      sse({ type: 'content_block_delta', index: 0, delta: 5 }, 'content_block_delta'),
      sse(finish, 'message_delta'),
      sse('{"type":"message_stop"}', 'message_stop'),
    ];
    const events = await postMessages();
    expect(events.map((event) => event.event)).toEqual(['message_start', 'content_block_start', 'error']);
  });
});

/**
 * Reads a served stream with the official SDK's own stream reader: every event parses, and only a
 * stream that ends with an error raises, with the SDK's APIError.
 */
async function readWithSdk(surface: NativeSurface, body: string, endsInError: boolean): Promise<number> {
  const response = new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  const stream =
    surface === 'responses'
      ? OpenAIStream.fromSSEResponse<unknown>(response, new AbortController())
      : AnthropicStream.fromSSEResponse<unknown>(response, new AbortController());
  let count = 0;
  try {
    for await (const _event of stream) count++;
  } catch (error) {
    expect(error).toBeInstanceOf(surface === 'responses' ? OpenAIAPIError : AnthropicAPIError);
    expect(endsInError).toBe(true);
  }
  return count;
}

describe.each<NativeSurface>(['responses', 'messages'])(
  'a fuzzed native %s upstream over real sockets',
  (surface) => {
    it('the client always gets the surface’s shape, Spool’s numbering and exactly one terminal event, and the SDK reads it', async () => {
      await fc.assert(
        fc.asyncProperty(
          nativeStream(surface),
          fc.constantFrom('\n', '\r\n'),
          fc.option(fc.nat(), { freq: 3 }),
          fc.array(fc.nat(), { maxLength: 6 }),
          async (fuzzed, eol, cut, cuts) => {
            const opening = openingBlocks(surface);
            const blocks = [...opening, ...fuzzed];
            // Cut after the opening events, which end read-ahead: the stream is always answered 200.
            const openingBytes = streamBytes(opening, eol, null).body.length;
            const total = streamBytes(blocks, eol, null).body.length;
            const at = cut === null ? null : openingBytes + (cut % (total - openingBytes + 1));
            const { body, received } = streamBytes(blocks, eol, at);
            script = split(body, cuts);
            const want = expectedStream(surface, received);
            let served: string;
            let responseId = '';
            if (surface === 'responses') ({ body: served, responseId } = await postResponses());
            else served = await postMessagesRaw();
            const events = parseSse(served);
            expectClientStream(surface, events, want, responseId);
            const endsInError = events.at(-1)?.event === 'error';
            const read = await readWithSdk(surface, served, endsInError);
            // The Anthropic SDK skips pings (and raises at the error event): it yields all the others.
            if (!endsInError)
              expect(read).toBe(
                surface === 'responses'
                  ? events.length
                  : events.filter((event) => event.event !== 'ping').length,
              );
          },
        ),
        { numRuns: 40 },
      );
    });
  },
);

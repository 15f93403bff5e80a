import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeEvent } from '@spool/protocol';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { createScheduler, type ReconnectInfo, resumableFetch } from '../src/index.js';

/** What one connection to the scripted server does. */
type Step =
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'status'; status: number }
  | { kind: 'whole' };

/** Anthropic Messages-style events: `event:` lines, multi-line data, ids 1, 2, 3 … */
const EVENTS = [
  { event: 'message_start', data: '{"type":"message_start"}' },
  { event: 'content_block_delta', data: '{"type":"content_block_delta",\n"delta":{"text":"Hello"}}' },
  { event: 'content_block_delta', data: '{"type":"content_block_delta",\n"delta":{"text":", wor"}}' },
  { event: 'content_block_delta', data: '{"type":"content_block_delta",\n"delta":{"text":"ld"}}' },
  { event: 'message_stop', data: '{"type":"message_stop"}' },
].map((event, index) => ({ id: String(index + 1), ...event }));

type Event = (typeof EVENTS)[number];

function body(afterId: number, events: readonly Event[] = EVENTS): string {
  return `retry: 1000\n\n${events.slice(afterId).map(encodeEvent).join('')}`;
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A gateway stand-in: POST /v1/messages and GET /v1/streams/s1 follow `steps`, one per connection. */
async function scriptedGateway(
  steps: Step[],
  options: { streamId?: string | null; events?: readonly Event[] } = {},
) {
  const seen: Seen[] = [];
  const streamId = options.streamId === undefined ? 's1' : options.streamId;
  const events = options.events ?? EVENTS;
  const serve = (request: IncomingMessage, response: ServerResponse, text: string) => {
    const step = steps.shift() ?? { kind: 'whole' };
    if (step.kind === 'status') {
      response.writeHead(step.status, { 'content-type': 'application/json' });
      response.end('{"error":{"message":"gone","type":"invalid_request_error","code":"stream_expired"}}');
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'text/event-stream' };
    if (streamId !== null) headers['x-stream-id'] = streamId;
    response.writeHead(200, headers);
    if (step.kind === 'whole') {
      response.end(text);
      return;
    }
    // Cut once the bytes are on the wire: destroying at once would discard the unflushed headers too.
    response.write(text.slice(0, step.afterBytes), () => {
      if (step.kind === 'cut') response.socket?.destroy();
    });
    request.socket.once('close', () => response.destroy());
  };
  server = createServer((request, response) => {
    let requestBody = '';
    request.on('data', (piece: Buffer) => {
      requestBody += piece.toString();
    });
    request.on('end', () => {
      seen.push({ method: request.method!, url: request.url!, headers: request.headers, body: requestBody });
      if (request.method === 'DELETE') {
        response.writeHead(204).end();
      } else if (request.method === 'POST' && request.url === '/v1/messages') {
        const streaming = (JSON.parse(requestBody) as { stream?: boolean }).stream === true;
        if (!streaming) {
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"msg_1"}');
          return;
        }
        serve(request, response, body(0, events));
      } else if (request.method === 'GET' && request.url === '/v1/streams/s1') {
        const afterId = Number(request.headers['last-event-id'] ?? 0);
        if (afterId >= events.length) response.writeHead(204).end();
        else serve(request, response, body(afterId, events));
      } else {
        response.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/messages`, seen };
}

function parse(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  createParser({ onEvent: (event) => events.push(event) }).feed(text);
  return events;
}

const post = (stream: boolean, init: RequestInit = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
  body: JSON.stringify({ model: 'sim', stream, messages: [] }),
  ...init,
});

const RETRY = { initialDelayMs: 1, maxDelayMs: 5 };

describe('resumableFetch', () => {
  it('splices event: lines and multi-line events whole across cuts mid-event, with Last-Event-ID', async () => {
    const full = body(0);
    const cutInsideEvent2 = full.indexOf('"delta":{"text":"Hello"}');
    const cutInsideEvent4 = body(1).indexOf('"delta":{"text":"ld"}');
    const gateway = await scriptedGateway([
      { kind: 'cut', afterBytes: cutInsideEvent2 },
      { kind: 'cut', afterBytes: cutInsideEvent4 },
    ]);
    const reconnects: ReconnectInfo[] = [];
    const fetch = resumableFetch({ retry: RETRY, onReconnect: (info) => reconnects.push(info) });
    const response = await fetch(gateway.url, post(true));
    const text = await response.text();

    expect(parse(text)).toEqual(EVENTS);
    expect(text).toBe(full);
    const resumes = gateway.seen.filter((request) => request.method === 'GET');
    expect(resumes.map((request) => request.headers['last-event-id'])).toEqual(['1', '3']);
    expect(resumes.map((request) => request.headers.authorization)).toEqual([
      'Bearer sk-test',
      'Bearer sk-test',
    ]);
    expect(
      reconnects.map(({ attempt, lastEventId, streamId }) => ({ attempt, lastEventId, streamId })),
    ).toEqual([
      { attempt: 1, lastEventId: '1', streamId: 's1' },
      { attempt: 1, lastEventId: '3', streamId: 's1' },
    ]);
    expect(fetch.lastStreamId).toBe('s1');
    expect(fetch.lastEventId).toBe('5');
    expect(fetch.stats()).toMatchObject({ streamId: 's1', reconnects: 2, events: 5 });
    expect(fetch.stats()?.bytesSpliced).toBe(
      new TextEncoder().encode(body(1)).byteLength - 'retry: 1000\n\n'.length,
    );
  });

  it('sends an Idempotency-Key with a streaming POST, keeping one the caller set', async () => {
    const gateway = await scriptedGateway([]);
    const fetch = resumableFetch();
    await (await fetch(gateway.url, post(true))).text();
    await (await fetch(gateway.url, post(true, { headers: { 'idempotency-key': 'mine' } }))).text();
    const keys = gateway.seen.map((request) => request.headers['idempotency-key']);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe('mine');
  });

  it('passes non-streaming requests and streams without X-Stream-Id through untouched', async () => {
    const gateway = await scriptedGateway([], { streamId: null });
    const fetch = resumableFetch();
    const plain = await fetch(gateway.url, post(false));
    expect(await plain.json()).toEqual({ id: 'msg_1' });
    expect(gateway.seen[0]?.headers['idempotency-key']).toBeUndefined();
    const unnamed = await fetch(gateway.url, post(true));
    expect(await unnamed.text()).toBe(body(0));
    expect(fetch.lastStreamId).toBeUndefined();
  });

  it('resumes a body that ends without a terminal event, and ends it cleanly when the resume answers 204', async () => {
    // No message_stop: only the server can say whether more was coming.
    const events = EVENTS.slice(0, -1);
    const gateway = await scriptedGateway([], { events });
    const fetch = resumableFetch({ retry: RETRY });
    const response = await fetch(gateway.url, post(true));
    expect(parse(await response.text())).toEqual(events);
    const resumes = gateway.seen.filter((request) => request.method === 'GET');
    expect(resumes.map((request) => request.headers['last-event-id'])).toEqual(['4']);
  });

  it('reconnects after idleTimeoutMs without a byte', async () => {
    const gateway = await scriptedGateway([{ kind: 'stall', afterBytes: body(0).indexOf('id: 3') }]);
    const reasons: string[] = [];
    const fetch = resumableFetch({
      retry: RETRY,
      idleTimeoutMs: 100,
      onReconnect: (info) => reasons.push(info.reason.code),
    });
    const response = await fetch(gateway.url, post(true));
    expect(parse(await response.text())).toEqual(EVENTS);
    expect(reasons).toEqual(['idle_timeout']);
  });

  it('fails the body with stream_expired when the resume answers 410', async () => {
    const gateway = await scriptedGateway([
      { kind: 'cut', afterBytes: body(0).indexOf('id: 2') },
      { kind: 'status', status: 410 },
    ]);
    const fetch = resumableFetch({ retry: RETRY });
    const response = await fetch(gateway.url, post(true));
    await expect(response.text()).rejects.toMatchObject({ code: 'stream_expired', status: 410 });
  });

  it('holds a scheduler slot from the request until the body ends', async () => {
    const gateway = await scriptedGateway([{ kind: 'stall', afterBytes: body(0).indexOf('id: 3') }]);
    const scheduler = createScheduler({ maxConcurrent: 1 });
    const fetch = resumableFetch({ scheduler, retry: RETRY });
    const controller = new AbortController();
    const first = await fetch(gateway.url, post(true, { signal: controller.signal }));
    const second = fetch(gateway.url, post(true));
    await expect.poll(() => scheduler.waiting).toBe(1);
    expect(gateway.seen.filter((request) => request.method === 'POST')).toHaveLength(1);
    controller.abort();
    await first.text().catch(() => undefined);
    expect(parse(await (await second).text())).toEqual(EVENTS);
    expect(scheduler.active).toBe(0);
  });

  it('ends the body on abort without a reconnect, and sends DELETE only with cancelOnAbort', async () => {
    for (const cancelOnAbort of [false, true]) {
      const gateway = await scriptedGateway([{ kind: 'stall', afterBytes: body(0).indexOf('id: 3') }]);
      const ended = new Promise<unknown>((resolve) => {
        const fetch = resumableFetch({ cancelOnAbort, onStreamEnd: (_stats, error) => resolve(error) });
        const controller = new AbortController();
        void fetch(gateway.url, post(true, { signal: controller.signal })).then(async (response) => {
          const reader = response.body!.getReader();
          await reader.read();
          controller.abort();
          await reader.read().catch(() => undefined);
        });
      });
      expect(await ended).toMatchObject({ name: 'AbortError' });
      const deleted = () => gateway.seen.some((request) => request.method === 'DELETE');
      if (cancelOnAbort) await expect.poll(deleted).toBe(true);
      else expect(deleted()).toBe(false);
      expect(gateway.seen.filter((request) => request.method === 'GET')).toEqual([]);
      server?.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
      server = undefined;
    }
  });
});

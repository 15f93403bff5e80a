import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectEventStream,
  createManualLifecycle,
  type EventStreamMessage,
  type StreamStatus,
  type Transport,
} from '../src/index.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('connectEventStream on any SSE endpoint', () => {
  it('POSTs body and headers, delivers named events and comments, and ends on a clean close', async () => {
    const seen: { method?: string; body: string; header?: string } = { body: '' };
    const origin = await listen((request, response) => {
      seen.method = request.method;
      seen.header = request.headers['x-app'] as string;
      request.on('data', (piece: Buffer) => {
        seen.body += piece.toString();
      });
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.end(': hello\n\nevent: update\ndata: one\ndata: two\n\ndata: three\n\n');
      });
    });
    const messages: EventStreamMessage[] = [];
    const comments: string[] = [];
    const statuses: StreamStatus['type'][] = [];
    const stream = connectEventStream(
      `${origin}/events`,
      { body: '{"q":1}', headers: async () => ({ 'x-app': 'demo' }), lifecycle: createManualLifecycle() },
      {
        onEvent: (message) => messages.push(message),
        onComment: (comment) => comments.push(comment),
        onStatus: (status) => statuses.push(status.type),
      },
    );
    await stream.done;
    expect(seen).toEqual({ method: 'POST', body: '{"q":1}', header: 'demo' });
    expect(messages).toEqual([
      { id: undefined, event: 'update', data: 'one\ntwo' },
      { id: undefined, event: undefined, data: 'three' },
    ]);
    expect(comments).toEqual(['hello']);
    expect(statuses).toEqual(['connecting', 'open', 'done']);
  });

  it('rejects a response that is not an event stream with a fix-it message', async () => {
    const origin = await listen((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
    const stream = connectEventStream(`${origin}/x`, { lifecycle: createManualLifecycle() });
    await expect(stream.done).rejects.toMatchObject({ code: 'not_event_stream', retryable: false });
    await expect(stream.done).rejects.toThrow('stream: true');
  });

  it('ends as done, without reconnecting, when its first request is answered 204 No Content', async () => {
    let requests = 0;
    const origin = await listen((_request, response) => {
      requests += 1;
      response.writeHead(204).end();
    });
    const statuses: StreamStatus['type'][] = [];
    const stream = connectEventStream(
      `${origin}/events`,
      { requireDone: true, retry: { initialDelayMs: 0 }, lifecycle: createManualLifecycle() },
      { onStatus: (status) => statuses.push(status.type) },
    );
    await stream.done;
    expect(statuses).toEqual(['connecting', 'open', 'done']);
    expect(requests).toBe(1);
  });

  it('ends as done when a resume is answered 204: the server has nothing after Last-Event-ID', async () => {
    const lastEventIds: Array<string | undefined> = [];
    const origin = await listen((request, response) => {
      lastEventIds.push(request.headers['last-event-id'] as string | undefined);
      if (lastEventIds.length > 1) {
        response.writeHead(204, { 'x-stream-id': 's1' }).end();
        return;
      }
      // A Spool stream (X-Stream-Id) whose body ends before [DONE]: a drop, so the client resumes.
      response.writeHead(200, { 'content-type': 'text/event-stream', 'x-stream-id': 's1' });
      response.end('id: 1\ndata: a\n\nid: 2\ndata: b\n\n');
    });
    const data: string[] = [];
    const statuses: StreamStatus['type'][] = [];
    const stream = connectEventStream(
      `${origin}/v1/chat/completions`,
      { body: '{}', retry: { initialDelayMs: 0 }, lifecycle: createManualLifecycle() },
      { onEvent: (message) => data.push(message.data), onStatus: (status) => statuses.push(status.type) },
    );
    await stream.done;
    expect(data).toEqual(['a', 'b']);
    expect(statuses).toEqual(['connecting', 'open', 'reconnecting', 'resumed', 'done']);
    expect(lastEventIds).toEqual([undefined, '2']);
    expect(stream.lastEventId).toBe(2);
  });

  it('honours the server retry: field as the least reconnect delay', async () => {
    let requests = 0;
    const origin = await listen((_request, response) => {
      requests += 1;
      response.writeHead(200, { 'content-type': 'text/event-stream', 'x-stream-id': 's1' });
      if (requests === 1) response.end('retry: 7\n\nid: 1\ndata: a\n\n');
      else response.end('id: 2\ndata: b\n\nid: 3\ndata: [DONE]\n\n');
    });
    const delays: number[] = [];
    const data: string[] = [];
    const stream = connectEventStream(
      `${origin}/v1/chat/completions`,
      { body: '{}', retry: { initialDelayMs: 0 }, lifecycle: createManualLifecycle() },
      {
        onEvent: (message) => data.push(message.data),
        onStatus: (status) => {
          if (status.type === 'reconnecting') delays.push(status.delayMs);
        },
      },
    );
    await stream.done;
    expect(delays).toEqual([7]);
    expect(data).toEqual(['a', 'b']);
  });
});

/** An in-memory Spool: numbered events, resume by Last-Event-ID, bodies split and cut where told. */
function scriptedTransport(events: string[], script: Array<{ splits: number[]; cutAt?: number }>): Transport {
  const encoded = events.map((data, index) => `id: ${index + 1}\ndata: ${data}\n\n`);
  let call = 0;
  return async (request) => {
    const plan = script[call++] ?? { splits: [] };
    const from = Number(request.headers['last-event-id'] ?? 0);
    let body = encoded.slice(from).join('');
    const cut = plan.cutAt !== undefined && plan.cutAt < body.length ? plan.cutAt : undefined;
    if (cut !== undefined) body = body.slice(0, cut);
    const points = [...new Set(plan.splits.map((point) => point % (body.length + 1)))].sort((a, b) => a - b);
    const pieces: string[] = [];
    let start = 0;
    for (const point of [...points, body.length]) {
      pieces.push(body.slice(start, point));
      start = point;
    }
    return {
      status: 200,
      headers: {
        get: (name) => ({ 'content-type': 'text/event-stream', 'x-stream-id': 'mem' })[name] ?? null,
      },
      async read(onChunk) {
        for (const piece of pieces) {
          if (request.signal.aborted) throw request.signal.reason;
          if (onChunk(piece, piece.length) === false) return;
        }
        if (cut !== undefined) throw new TypeError('socket hang up');
      },
    };
  };
}

describe('delivery is exact under any chunking and any drops (property)', () => {
  it('delivers every event once, in order, however the bytes are split and cut', async () => {
    const events = ['alpha', 'βeta', 'gam\u{1F600}ma', 'delta', 'epsilon', 'zeta', '[DONE]'];
    const attempt = fc.record({
      splits: fc.array(fc.nat(400), { maxLength: 6 }),
      cutAt: fc.option(fc.nat(200), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(attempt, { maxLength: 6 }), async (script) => {
        const data: string[] = [];
        const stream = connectEventStream(
          'https://gw.test/v1/chat/completions',
          {
            body: '{}',
            transport: scriptedTransport(events, script),
            retry: { initialDelayMs: 0, maxAttempts: 20 },
            lifecycle: createManualLifecycle(),
          },
          { onEvent: (message) => data.push(message.data) },
        );
        await stream.done;
        expect(data).toEqual(events.slice(0, -1));
      }),
      { numRuns: 150 },
    );
  });
});

import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type ResponsesStreamEvent, ResumeUnsupportedError } from '../src/index.js';

const TOKENS = ['Back', 'ground', ' ', 'wör', 'ld', ' 🙂', ' — ', 'résumé', ' ok', '.'];
const TEXT = TOKENS.join('');
const fastRetry = { initialDelayMs: 0, jitter: 'none' as const };

/** What one streamed answer (POST or resume GET) does: send `events` events, then cut the socket. */
interface Cut {
  events: number;
  /** Also send half of the next event before cutting. */
  midEvent?: boolean;
  /** Keep the connection open, silent, instead of cutting it. */
  stall?: boolean;
}

interface OpenAiLikeServer {
  baseURL: string;
  requests: Array<{ method: string; url: string; headers: IncomingHttpHeaders }>;
  /** Cuts taken in order by the streamed answers, POST and GET alike; none left means answer in full. */
  cuts: Cut[];
  /** Answer resumes from sequence 0 whatever `starting_after` says (to prove the client's dedupe). */
  ignoreStartingAfter: boolean;
  /** Resolves with the path of the first `POST /v1/responses/{id}/cancel`. */
  cancelled: Promise<string>;
  close(): Promise<void>;
}

/**
 * A node:http server that streams Responses as OpenAI does: no `X-Stream-Id`, no SSE `id:` lines,
 * `event:` + `data:` with `sequence_number` from 0, `response.created` first. A background Response
 * (`background: true`) can be streamed again with `GET /v1/responses/{id}?stream=true&starting_after=N`;
 * any other answers that GET with OpenAI's 400.
 */
async function startOpenAiLikeServer(): Promise<OpenAiLikeServer> {
  const responses = new Map<string, { background: boolean; events: string[] }>();
  let resolveCancelled: (path: string) => void = () => {};
  const cancelled = new Promise<string>((resolve) => {
    resolveCancelled = resolve;
  });

  const buildEvents = (id: string, background: boolean): string[] => {
    const response = (status: string, output: unknown[] = [], usage: unknown = null) => ({
      id,
      object: 'response',
      created_at: 1,
      status,
      background,
      model: 'gpt-test',
      output,
      usage,
    });
    const message = (status: string, text: string) => ({
      id: 'msg_1',
      type: 'message',
      status,
      role: 'assistant',
      content: text === '' ? [] : [{ type: 'output_text', text, annotations: [] }],
    });
    const bodies: Array<Record<string, unknown>> = [
      { type: 'response.created', response: response('queued') },
      { type: 'response.in_progress', response: response('in_progress') },
      { type: 'response.output_item.added', output_index: 0, item: message('in_progress', '') },
      {
        type: 'response.content_part.added',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [] },
      },
      ...TOKENS.map((delta) => ({
        type: 'response.output_text.delta',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        delta,
      })),
      { type: 'response.output_text.done', item_id: 'msg_1', output_index: 0, content_index: 0, text: TEXT },
      { type: 'response.output_item.done', output_index: 0, item: message('completed', TEXT) },
      {
        type: 'response.completed',
        response: response('completed', [message('completed', TEXT)], {
          input_tokens: 3,
          output_tokens: TOKENS.length,
          total_tokens: 3 + TOKENS.length,
        }),
      },
    ];
    return bodies.map(
      (body, sequence) =>
        `event: ${body.type}\ndata: ${JSON.stringify({ ...body, sequence_number: sequence })}\n\n`,
    );
  };

  const stream = (res: ServerResponse, events: string[]) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    const cut = server.cuts.shift();
    if (cut === undefined) {
      res.end(events.join(''));
      return;
    }
    let sent = events.slice(0, cut.events).join('');
    const next = events[cut.events];
    if (cut.midEvent && next !== undefined) sent += next.slice(0, Math.floor(next.length / 2));
    if (cut.stall) {
      res.write(sent);
      return;
    }
    // Flushed first, so the client sees exactly what was sent before the connection dies.
    res.write(sent, () => res.socket?.destroy());
  };

  const httpServer = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const url = new URL(req.url ?? '/', 'http://localhost');
    server.requests.push({
      method: req.method ?? '',
      url: `${url.pathname}${url.search}`,
      headers: req.headers,
    });
    const cancel = /^\/v1\/responses\/([^/]+)\/cancel$/.exec(url.pathname);
    if (req.method === 'POST' && cancel) {
      resolveCancelled(url.pathname);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/responses') {
      const params = JSON.parse(body) as { background?: boolean };
      const id = `resp_${responses.size + 1}`;
      const background = params.background === true;
      const events = buildEvents(id, background);
      responses.set(id, { background, events });
      stream(res, events);
      return;
    }
    const retrieve = /^\/v1\/responses\/([^/]+)$/.exec(url.pathname);
    const stored = retrieve ? responses.get(decodeURIComponent(retrieve[1] as string)) : undefined;
    if (req.method === 'GET' && stored && url.searchParams.get('stream') === 'true') {
      if (!stored.background) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            error: {
              message: 'Streaming is only supported for background responses.',
              type: 'invalid_request_error',
              param: 'stream',
              code: null,
            },
          }),
        );
        return;
      }
      const after = server.ignoreStartingAfter ? -1 : Number(url.searchParams.get('starting_after') ?? -1);
      stream(res, stored.events.slice(after + 1));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const { port } = httpServer.address() as AddressInfo;
  const server: OpenAiLikeServer = {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests: [],
    cuts: [],
    ignoreStartingAfter: false,
    cancelled,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
  return server;
}

let server: OpenAiLikeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Reads a stream the way a UI renders it: append deltas, clear on `restarted`. */
async function render(stream: AsyncIterable<ResponsesStreamEvent>) {
  const events: ResponsesStreamEvent[] = [];
  let shown = '';
  for await (const event of stream) {
    events.push(event);
    if (event.type === 'text-delta') shown += event.delta;
    if (event.type === 'restarted') shown = '';
  }
  const sequence = events.flatMap((event) => (event.type === 'event' ? [event.event.sequence_number] : []));
  return { events, shown, sequence, types: events.map((event) => event.type) };
}

const EVENT_COUNT = TOKENS.length + 7;
const allSequence = Array.from({ length: EVENT_COUNT }, (_, index) => index);

describe('responses.stream against OpenAI background streams (no X-Stream-Id, no id: lines)', () => {
  it('resumes a background Response by GET ?stream=true&starting_after=N after cuts, with one POST and the exact text', async () => {
    const openai = await startOpenAiLikeServer();
    server = openai;
    const client = createClient({ baseURL: openai.baseURL, apiKey: 'sk-test', retry: fastRetry });
    // Cut after response.created, mid-event among the deltas, and just before the terminal event.
    openai.cuts.push({ events: 1 }, { events: 5, midEvent: true }, { events: EVENT_COUNT - 7 });
    const stream = client.responses.stream({ model: 'gpt-test', input: 'Hi', background: true });
    const { shown, sequence, types } = await render(stream);

    expect(shown).toBe(TEXT);
    expect(await stream.text()).toBe(TEXT);
    expect(sequence).toEqual(allSequence);
    expect(types.filter((type) => type === 'resumed')).toHaveLength(3);
    expect(types).not.toContain('restarted');
    expect(types.at(-1)).toBe('done');
    expect((await stream.finalResponse())?.status).toBe('completed');
    expect(stream.responseId).toBe('resp_1');
    expect(stream.streamId).toBe('resp_1');
    expect(stream.lastSequenceNumber).toBe(EVENT_COUNT - 1);
    expect(stream.stats().reconnects).toBe(3);

    expect(openai.requests.map(({ method, url }) => `${method} ${url}`)).toEqual([
      'POST /v1/responses',
      'GET /v1/responses/resp_1?stream=true&starting_after=0',
      'GET /v1/responses/resp_1?stream=true&starting_after=5',
      `GET /v1/responses/resp_1?stream=true&starting_after=${EVENT_COUNT - 2}`,
    ]);
    for (const { headers } of openai.requests) expect(headers.authorization).toBe('Bearer sk-test');
    expect(openai.requests.filter(({ headers }) => headers['x-stream-id'] !== undefined)).toEqual([]);
  });

  it('resumes after a cut at every event, each time from the last sequence_number delivered', async () => {
    for (let cutAfter = 1; cutAfter < EVENT_COUNT; cutAfter++) {
      const openai = await startOpenAiLikeServer();
      server = openai;
      const client = createClient({ baseURL: openai.baseURL, retry: fastRetry });
      openai.cuts.push({ events: cutAfter });
      const stream = client.responses.stream({ model: 'gpt-test', input: 'Hi', background: true });
      const { shown, sequence } = await render(stream);
      expect(shown).toBe(TEXT);
      expect(sequence).toEqual(allSequence);
      expect(openai.requests.map(({ method, url }) => `${method} ${url}`)).toEqual([
        'POST /v1/responses',
        `GET /v1/responses/resp_1?stream=true&starting_after=${cutAfter - 1}`,
      ]);
      await openai.close();
      server = undefined;
    }
  });

  it('replaces a stalled background stream after idleTimeoutMs and resumes it by GET', async () => {
    const openai = await startOpenAiLikeServer();
    server = openai;
    openai.cuts.push({ events: 6, stall: true });
    const client = createClient({ baseURL: openai.baseURL, idleTimeoutMs: 150, retry: fastRetry });
    const stream = client.responses.stream({ model: 'gpt-test', input: 'Hi', background: true });
    const { shown, sequence, events } = await render(stream);
    expect(shown).toBe(TEXT);
    expect(sequence).toEqual(allSequence);
    const reconnecting = events.find((event) => event.type === 'reconnecting');
    expect(reconnecting).toMatchObject({ reason: { code: 'idle_timeout' } });
    expect(openai.requests.map(({ method, url }) => `${method} ${url}`)).toEqual([
      'POST /v1/responses',
      'GET /v1/responses/resp_1?stream=true&starting_after=5',
    ]);
  });

  it('skips events at or below the last sequence_number delivered when a resume replays them', async () => {
    const openai = await startOpenAiLikeServer();
    server = openai;
    openai.ignoreStartingAfter = true;
    openai.cuts.push({ events: 8 }, { events: 12 });
    const client = createClient({ baseURL: openai.baseURL, retry: fastRetry });
    const stream = client.responses.stream({ model: 'gpt-test', input: 'Hi', background: true });
    const { shown, sequence } = await render(stream);
    expect(shown).toBe(TEXT);
    expect(sequence).toEqual(allSequence);
    expect(openai.requests.filter(({ method }) => method === 'POST')).toHaveLength(1);
  });

  it('cancels a background Response with POST /v1/responses/{id}/cancel', async () => {
    const openai = await startOpenAiLikeServer();
    server = openai;
    openai.cuts.push({ events: 6, stall: true });
    const client = createClient({ baseURL: openai.baseURL });
    const stream = client.responses.stream({ model: 'gpt-test', input: 'Hi', background: true });
    for await (const event of stream) {
      if (event.type === 'text-delta') {
        stream.cancel();
        break;
      }
    }
    expect(await openai.cancelled).toBe('/v1/responses/resp_1/cancel');
  });
});

describe('responses.stream against a non-background OpenAI stream that drops', () => {
  it("starts again with a new POST and says `restarted` (onNoResume 'restart', the default), never resuming or duplicating text", async () => {
    const openai = await startOpenAiLikeServer();
    server = openai;
    openai.cuts.push({ events: 7, midEvent: true });
    const client = createClient({ baseURL: openai.baseURL, retry: fastRetry });
    const stream = client.responses.stream({ model: 'gpt-test', input: 'Hi' });
    const { shown, types, sequence } = await render(stream);
    expect(shown).toBe(TEXT);
    expect(await stream.text()).toBe(TEXT);
    expect(types.filter((type) => type === 'restarted')).toHaveLength(1);
    expect(types).not.toContain('resumed');
    expect(sequence).toEqual([...allSequence.slice(0, 7), ...allSequence]);
    expect(stream.streamId).toBeUndefined();
    expect(stream.responseId).toBe('resp_2');
    expect(openai.requests.map(({ method, url }) => `${method} ${url}`)).toEqual([
      'POST /v1/responses',
      'POST /v1/responses',
    ]);
  });

  it("fails with ResumeUnsupportedError under onNoResume 'fail', without a second request", async () => {
    const openai = await startOpenAiLikeServer();
    server = openai;
    openai.cuts.push({ events: 7 });
    const client = createClient({ baseURL: openai.baseURL, retry: fastRetry, onNoResume: 'fail' });
    const stream = client.responses.stream({ model: 'gpt-test', input: 'Hi', background: false });
    const error = await stream.text().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ResumeUnsupportedError);
    expect(error).toMatchObject({ code: 'resume_unsupported', retryable: false });
    expect(openai.requests).toHaveLength(1);
  });
});

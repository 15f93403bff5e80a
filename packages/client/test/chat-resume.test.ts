import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, type ChatStream, type ChatStreamEvent, createClient, HttpError } from '../src/index.js';
import { type SseServer, startSseServer } from './sse-server.js';

// Event ids on the test server: 1 is the role chunk, 2…11 the tokens, 12 the finish chunk, 13 [DONE].
const TOKENS = ['Hel', 'lo', ', ', 'wör', 'ld', ' 🙂', ' — ', 'résumé', ' ok', '.'];
const DONE_ID = TOKENS.length + 3;
const request = { model: 'sim', messages: [{ role: 'user' as const, content: 'Hi' }] };
const fastRetry = { initialDelayMs: 0, jitter: 'none' as const };

let server: SseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<SseServer> {
  server = await startSseServer({ tokens: TOKENS });
  return server;
}

/** The text of the tokens after event `lastEventId`. */
const restAfter = (lastEventId: number) => TOKENS.slice(Math.max(0, lastEventId - 1)).join('');

async function collect(stream: ChatStream): Promise<ChatStreamEvent[]> {
  const events: ChatStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** A stream id the server knows, with all its events stored. */
async function finishedStreamId(gateway: SseServer): Promise<string> {
  const stream = createClient({ baseURL: gateway.baseURL }).chat.stream(request);
  await stream.text();
  return stream.streamId ?? '';
}

describe('ChatStream.lastEventId', () => {
  it('is 0 before any event, the id of each event as it is delivered across cuts, and [DONE]’s at the end', async () => {
    const gateway = await start();
    gateway.faults = [
      { kind: 'cut-after', events: 3, midEvent: true },
      { kind: 'cut-after', events: 4 },
    ];
    const seen: number[] = [];
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry });
    const stream: ChatStream = client.chat.stream(request, { onText: () => seen.push(stream.lastEventId) });
    expect(stream.lastEventId).toBe(0);
    expect(await stream.text()).toBe(gateway.text);
    expect(seen).toEqual(TOKENS.map((_token, index) => index + 2));
    expect(stream.lastEventId).toBe(DONE_ID);
    expect(gateway.requests.slice(1).map((entry) => entry.headers['last-event-id'])).toEqual(['3', '7']);
  });
});

describe('ChatStream.detach', () => {
  it('drops the connection without DELETE; iteration rejects with code detached; a resume gets the rest', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'stall-after', events: 5 }];
    const client = createClient({ baseURL: gateway.baseURL, idleTimeoutMs: 0 });
    let shown = '';
    let reachedFive!: () => void;
    const five = new Promise<void>((resolve) => {
      reachedFive = resolve;
    });
    const stream: ChatStream = client.chat.stream(request, {
      onText: (_delta, text) => {
        shown = text;
        if (stream.lastEventId === 5) reachedFive();
      },
    });
    const iterating = collect(stream);
    await five;
    await stream.detach();
    const error = await iterating.catch((raw: unknown) => raw);
    expect(error).toBeInstanceOf(AbortError);
    expect(error).toMatchObject({ code: 'detached', retryable: false });
    await expect(stream.text()).rejects.toMatchObject({ code: 'detached' });
    expect(stream.lastEventId).toBe(5);
    expect(gateway.deletes).toEqual([]);
    expect(shown).toBe(TOKENS.slice(0, 4).join(''));

    const rest = client.chat.resume(stream.streamId ?? '', { lastEventId: stream.lastEventId });
    const events = await collect(rest);
    expect(shown + (await rest.text())).toBe(gateway.text);
    expect(events.slice(0, 2)).toEqual([
      { type: 'connecting' },
      { type: 'resumed', fromEventId: 5, streamId: stream.streamId },
    ]);
    const last = gateway.requests.at(-1);
    expect(`${last?.method} ${last?.path}`).toBe(`GET /v1/streams/${stream.streamId}`);
    expect(last?.headers['last-event-id']).toBe('5');
    expect(gateway.deletes).toEqual([]);
  });

  it('after the stream ended, detach() is a no-op and sends nothing', async () => {
    const gateway = await start();
    const stream = createClient({ baseURL: gateway.baseURL }).chat.stream(request);
    await stream.text();
    await stream.detach();
    expect(await stream.text()).toBe(gateway.text);
    expect(gateway.requests).toHaveLength(1);
  });
});

describe('chat.resume', () => {
  it('from any event id n delivers exactly the text after n, and lastEventId starts at n', async () => {
    const gateway = await start();
    const streamId = await finishedStreamId(gateway);
    const client = createClient({ baseURL: gateway.baseURL, apiKey: 'k' });
    for (let lastEventId = 0; lastEventId < DONE_ID; lastEventId += 1) {
      const stream = client.chat.resume(streamId, { lastEventId });
      expect(stream.lastEventId).toBe(lastEventId);
      expect(stream.streamId).toBe(streamId);
      expect(await stream.text()).toBe(restAfter(lastEventId));
      // Assembled from what this resume saw: after the last chunk (n = 12) there is no choice at all.
      const completion = await stream.finalCompletion();
      expect(completion.choices[0]?.message.content ?? '').toBe(restAfter(lastEventId));
      expect(stream.lastEventId).toBe(DONE_ID);
      const sent = gateway.requests.at(-1);
      expect(sent?.method).toBe('GET');
      expect(sent?.headers['last-event-id']).toBe(lastEventId === 0 ? undefined : String(lastEventId));
      expect(sent?.headers.authorization).toBe('Bearer k');
      expect(sent?.headers['idempotency-key']).toBeUndefined();
    }
  });

  it('from the [DONE] event id is done at once with no text, on one request (the server answers 204)', async () => {
    const gateway = await start();
    const streamId = await finishedStreamId(gateway);
    const errors: unknown[] = [];
    const stream = createClient({ baseURL: gateway.baseURL, retry: fastRetry }).chat.resume(streamId, {
      lastEventId: DONE_ID,
      onError: (error) => errors.push(error),
    });
    const events = await collect(stream);
    expect(events.map((event) => event.type)).toEqual(['connecting', 'resumed', 'done']);
    expect(await stream.text()).toBe('');
    expect(stream.lastEventId).toBe(DONE_ID);
    expect(stream.stats().reconnects).toBe(0);
    expect(errors).toEqual([]);
    expect(
      gateway.requests.slice(1).map((entry) => `${entry.method} ${entry.headers['last-event-id']}`),
    ).toEqual([`GET ${DONE_ID}`]);
  });

  it('ends as done, not as a drop, when a reconnect is answered 204 before [DONE] arrived', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'cut-after', events: 5 }, { kind: 'no-content' }];
    const statuses: string[] = [];
    const stream = createClient({ baseURL: gateway.baseURL, retry: fastRetry }).chat.stream(request, {
      onStatus: (status) => statuses.push(status.type),
    });
    expect(await stream.text()).toBe(TOKENS.slice(0, 4).join(''));
    expect(statuses).toEqual(['connecting', 'open', 'reconnecting', 'resumed', 'done']);
    expect(stream.lastEventId).toBe(5);
    expect(gateway.requests).toHaveLength(2);
  });

  it('reconnects after cuts with Last-Event-ID following what it delivered, without gaps or repeats', async () => {
    const gateway = await start();
    const streamId = await finishedStreamId(gateway);
    gateway.faults = [
      { kind: 'cut-after', events: 2, midEvent: true },
      { kind: 'cut-after', events: 0 },
      { kind: 'cut-after', events: 3, midEvent: true },
    ];
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry });
    const stream = client.chat.resume(streamId, { lastEventId: 3 });
    const events = await collect(stream);
    const deltas = events.flatMap((event) => (event.type === 'text-delta' ? [event.delta] : []));
    expect(deltas).toEqual(TOKENS.slice(2));
    expect(events.flatMap((event) => (event.type === 'resumed' ? [event.fromEventId] : []))).toEqual([
      3, 5, 5, 8,
    ]);
    expect(events.some((event) => event.type === 'open')).toBe(false);
    expect(gateway.requests.slice(1).map((entry) => entry.headers['last-event-id'])).toEqual([
      '3',
      '5',
      '5',
      '8',
    ]);
    expect(stream.stats().reconnects).toBe(3);
  });

  it('an unknown stream fails at once with HttpError 404 stream_not_found', async () => {
    const gateway = await start();
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry });
    const stream = client.chat.resume('str_unknown', { lastEventId: 4 });
    const error = await stream.text().catch((raw: unknown) => raw);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 404, code: 'stream_not_found', retryable: false });
    await expect(collect(stream)).rejects.toBe(error);
    expect(gateway.requests).toHaveLength(1);
  });

  it('an expired stream fails with HttpError 410 stream_expired, whatever code the body names', async () => {
    const gateway = await start();
    const streamId = await finishedStreamId(gateway);
    gateway.faults = [{ kind: 'status', status: 410, code: 'gone' }];
    const errors: unknown[] = [];
    const stream = createClient({ baseURL: gateway.baseURL }).chat.resume(streamId, {
      onError: (error) => errors.push(error),
    });
    await expect(stream.text()).rejects.toMatchObject({ status: 410, code: 'stream_expired' });
    expect(errors).toHaveLength(1);
  });

  it('aborting its signal stops the generation with DELETE, like cancel()', async () => {
    const gateway = await start();
    const streamId = await finishedStreamId(gateway);
    gateway.faults = [{ kind: 'stall-after', events: 2 }];
    const controller = new AbortController();
    const stream = createClient({ baseURL: gateway.baseURL, idleTimeoutMs: 0 }).chat.resume(streamId, {
      signal: controller.signal,
      onText: () => controller.abort(),
    });
    await expect(stream.text()).rejects.toMatchObject({ code: 'aborted' });
    await stream.cancel();
    expect(gateway.deletes).toEqual([streamId]);
  });
});

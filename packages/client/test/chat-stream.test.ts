import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortError,
  BufferedVerdicts,
  type ChatStream,
  type ChatStreamEvent,
  createClient,
  createManualLifecycle,
  HttpError,
  IdleTimeoutError,
  ResumeUnsupportedError,
  StreamError,
} from '../src/index.js';
import { type SseServer, type SseServerOptions, startSseServer } from './sse-server.js';

const TOKENS = ['Hel', 'lo', ', ', 'wör', 'ld', ' 🙂', ' — ', 'résumé', ' ok', '.'];
const request = { model: 'sim', messages: [{ role: 'user' as const, content: 'Hi' }] };
const fastRetry = { initialDelayMs: 0, jitter: 'none' as const };

let server: SseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: Partial<SseServerOptions> = {}): Promise<SseServer> {
  server = await startSseServer({ tokens: TOKENS, ...options });
  return server;
}

/** Reads a stream the way a UI renders it: append deltas, clear on `restarted`. */
async function render(stream: ChatStream) {
  const events: ChatStreamEvent[] = [];
  let shown = '';
  for await (const event of stream) {
    events.push(event);
    if (event.type === 'text-delta') shown += event.delta;
    if (event.type === 'restarted') shown = '';
  }
  return { events, shown, types: events.map((event) => event.type) };
}

const deltasOf = (events: ChatStreamEvent[]) =>
  events.flatMap((event) => (event.type === 'text-delta' ? [event.delta] : []));

describe('chat.stream against a Spool-style server', () => {
  it('streams the whole completion with typed events and stats', async () => {
    const gateway = await start();
    const client = createClient({ baseURL: gateway.baseURL, apiKey: 'k' });
    const stream = client.chat.stream(request);
    const { events, shown, types } = await render(stream);
    expect(shown).toBe(gateway.text);
    expect(await stream.text()).toBe(gateway.text);
    expect(types[0]).toBe('connecting');
    expect(types[1]).toBe('open');
    expect(types.slice(-3)).toEqual(['finish', 'usage', 'done']);
    const completion = await stream.finalCompletion();
    expect(completion.choices[0]?.message.content).toBe(gateway.text);
    expect(completion.usage?.completion_tokens).toBe(TOKENS.length);
    expect(events.find((event) => event.type === 'open')).toMatchObject({ streamId: stream.streamId });
    const posted = gateway.requests[0]!;
    expect(posted.headers.authorization).toBe('Bearer k');
    expect(posted.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(posted.body)).toMatchObject({ model: 'sim', stream: true });
    const stats = stream.stats();
    expect(stats.tokens).toBe(TOKENS.length);
    expect(stats.reconnects).toBe(0);
    expect(stats.bytes).toBeGreaterThan(gateway.text.length);
    expect(stats.timeToFirstTokenMs).toBeGreaterThanOrEqual(0);
    await stream.cancel();
    expect(gateway.deletes).toEqual([]);
  });

  it('resumes from Last-Event-ID after the socket is cut mid-event, byte for byte, without duplicates', async () => {
    const gateway = await start();
    gateway.faults = [
      { kind: 'cut-after', events: 3, midEvent: true },
      { kind: 'cut-after', events: 2 },
      { kind: 'cut-after', events: 0, midEvent: true },
      { kind: 'cut-after', events: 4, midEvent: true },
    ];
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry });
    const stream = client.chat.stream(request);
    const { events, shown, types } = await render(stream);
    expect(shown).toBe(gateway.text);
    expect(deltasOf(events)).toEqual(TOKENS);
    expect(types.filter((type) => type === 'restarted')).toEqual([]);
    expect(
      events
        .filter((event) => event.type === 'resumed')
        .map((event) => 'fromEventId' in event && event.fromEventId),
    ).toEqual([3, 5, 5, 9]);
    const resumes = gateway.requests.slice(1);
    expect(resumes.map((entry) => `${entry.method} ${entry.path}`)).toEqual(
      Array(4).fill(`GET /v1/streams/${stream.streamId}`),
    );
    expect(resumes.map((entry) => entry.headers['last-event-id'])).toEqual(['3', '5', '5', '9']);
    expect(stream.stats().reconnects).toBe(4);
  });

  it('re-POSTs with the same Idempotency-Key when the first response never arrived', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'destroy-before-headers' }];
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry });
    const stream = client.chat.stream(request);
    const { shown, types } = await render(stream);
    expect(shown).toBe(gateway.text);
    expect(types).toContain('reconnecting');
    const [first, second] = gateway.requests;
    expect(second?.method).toBe('POST');
    expect(second?.headers['idempotency-key']).toBe(first?.headers['idempotency-key']);
    expect(second?.body).toBe(first?.body);
  });

  it('waits out a 429 as long as Retry-After says, then succeeds', async () => {
    const gateway = await start();
    gateway.faults = [
      { kind: 'status', status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after-ms': '5' } },
    ];
    const client = createClient({ baseURL: gateway.baseURL });
    const stream = client.chat.stream(request);
    const { events, shown } = await render(stream);
    expect(shown).toBe(gateway.text);
    const reconnecting = events.find((event) => event.type === 'reconnecting');
    expect(reconnecting).toMatchObject({ attempt: 1, delayMs: 5 });
    const reason = reconnecting?.type === 'reconnecting' ? reconnecting.reason : undefined;
    expect(reason).toBeInstanceOf(HttpError);
    expect(reason).toMatchObject({ status: 429, code: 'rate_limit_exceeded', retryable: true });
  });

  it('fails at once on a 400 without retrying, with a code and the request id', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'status', status: 400, code: 'invalid_request' }];
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry });
    const error = await client.chat
      .stream(request)
      .text()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_request', retryable: false });
    expect((error as HttpError).requestId).toMatch(/./);
    expect(gateway.requests).toHaveLength(1);
  });

  it('refreshes an expired token on 401 through onUnauthorized and retries once', async () => {
    const gateway = await start({ validToken: 'fresh' });
    let token = 'stale';
    let refreshes = 0;
    const client = createClient({
      baseURL: gateway.baseURL,
      headers: async () => ({ Authorization: `Bearer ${token}` }),
      onUnauthorized: async () => {
        refreshes += 1;
        token = 'fresh';
        return true;
      },
    });
    expect(await client.chat.stream(request).text()).toBe(gateway.text);
    expect(refreshes).toBe(1);
    expect(gateway.requests.map((entry) => entry.headers.authorization)).toEqual([
      'Bearer stale',
      'Bearer fresh',
    ]);
  });

  it('gives up after a second 401', async () => {
    const gateway = await start({ validToken: 'never' });
    let refreshes = 0;
    const client = createClient({
      baseURL: gateway.baseURL,
      apiKey: 'wrong',
      onUnauthorized: () => {
        refreshes += 1;
        return undefined;
      },
    });
    const error = await client.chat
      .stream(request)
      .text()
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 401, retryable: false });
    expect((error as Error).message).toContain('apiKey');
    expect(refreshes).toBe(1);
    expect(gateway.requests).toHaveLength(2);
  });

  it('replaces a stalled connection after idleTimeoutMs and resumes', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'stall-after', events: 4 }];
    const client = createClient({ baseURL: gateway.baseURL, idleTimeoutMs: 150, retry: fastRetry });
    const stream = client.chat.stream(request);
    const { events, shown } = await render(stream);
    expect(shown).toBe(gateway.text);
    const reconnecting = events.find((event) => event.type === 'reconnecting');
    expect(reconnecting?.type === 'reconnecting' && reconnecting.reason).toBeInstanceOf(IdleTimeoutError);
    expect(gateway.requests[1]?.headers['last-event-id']).toBe('4');
  });

  it('replaces a connection that stalls inside an error answer’s body after idleTimeoutMs, buffer detection on', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'status-stall', status: 503 }];
    // 'auto' with buffer detection (the default): the watchdog must still reach the quiet error body.
    const client = createClient({ baseURL: gateway.baseURL, idleTimeoutMs: 150, retry: fastRetry });
    const stream = client.chat.stream(request);
    const { events, shown } = await render(stream);
    expect(shown).toBe(gateway.text);
    const reconnecting = events.find((event) => event.type === 'reconnecting');
    expect(reconnecting?.type === 'reconnecting' && reconnecting.reason).toBeInstanceOf(IdleTimeoutError);
    expect(gateway.requests.map((recorded) => recorded.method)).toEqual(['POST', 'POST']);
  });

  it.each(['headers', 'body'] as const)(
    'does not take a busy machine for a buffering network: %s that waited in the socket while the loop was blocked count',
    async (waiting) => {
      const gateway = await start();
      const busyMs = 300;
      gateway.faults = [{ kind: 'busy', while: waiting, busyMs }];
      const verdicts = new BufferedVerdicts({ storage: null });
      const client = createClient({
        baseURL: gateway.baseURL,
        // Both silences run out while the process is busy, with the bytes already in its socket.
        bufferDetection: { headersTimeoutMs: busyMs / 3, firstByteTimeoutMs: busyMs / 3, verdicts },
      });
      const stream = client.chat.stream(request);
      const { types, shown } = await render(stream);
      expect(shown).toBe(gateway.text);
      expect(types).not.toContain('transport-fallback');
      expect(verdicts.isBuffered(gateway.origin)).toBe(false);
      expect(gateway.requests.map((recorded) => recorded.method)).toEqual(['POST']);
    },
  );

  it('counts heartbeat comments as life, so a slow but alive stream is not replaced', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'stall-after', events: 4, heartbeats: 6, heartbeatEveryMs: 40 }];
    const client = createClient({ baseURL: gateway.baseURL, idleTimeoutMs: 150, retry: fastRetry });
    const { shown, types } = await render(client.chat.stream(request));
    expect(shown).toBe(gateway.text);
    expect(types).not.toContain('reconnecting');
  });

  it('cancel() aborts and sends DELETE so the gateway stops generating', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'stall-after', events: 4 }];
    const client = createClient({ baseURL: gateway.baseURL });
    const stream = client.chat.stream(request);
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of stream) {
        if (event.type === 'text-delta') {
          seen.push(event.delta);
          if (seen.length === 3) void stream.cancel();
        }
      }
    })();
    await expect(reading).rejects.toBeInstanceOf(AbortError);
    await stream.cancel();
    expect(gateway.deletes).toEqual([stream.streamId]);
    expect(gateway.requests.filter((entry) => entry.method === 'POST')).toHaveLength(1);
  });

  it('an aborted signal stops the stream and sends DELETE too', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'stall-after', events: 3 }];
    const controller = new AbortController();
    const client = createClient({ baseURL: gateway.baseURL });
    const stream = client.chat.stream(request, {
      signal: controller.signal,
      onText: (_delta, text) => {
        if (text === 'Hello') controller.abort();
      },
    });
    await expect(stream.text()).rejects.toBeInstanceOf(AbortError);
    await stream.cancel();
    expect(gateway.deletes).toEqual([stream.streamId]);
  });

  it('pauses retries while offline and reconnects at once when back online', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'cut-after', events: 3 }];
    const lifecycle = createManualLifecycle(true);
    const client = createClient({
      baseURL: gateway.baseURL,
      lifecycle,
      retry: { initialDelayMs: 60_000, jitter: 'none' },
    });
    let parked!: () => void;
    const isParked = new Promise<void>((resolve) => {
      parked = resolve;
    });
    const stream = client.chat.stream(request, {
      onStatus: (status) => {
        if (status.type === 'reconnecting') {
          lifecycle.setOnline(false);
          parked();
        }
      },
    });
    await isParked;
    // A full round trip to the server gives a reconnect that was not paused every chance to show up.
    await fetch(`${gateway.origin}/health`).then((response) => response.text());
    expect(gateway.requests.filter((entry) => entry.path !== '/health')).toHaveLength(1);
    lifecycle.setOnline(true);
    expect(await stream.text()).toBe(gateway.text);
    expect(gateway.requests.at(-1)?.headers['last-event-id']).toBe('3');
  });

  it('replaces the connection at once when the page becomes visible (reconnectOnVisible)', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'stall-after', events: 3 }];
    const lifecycle = createManualLifecycle(true);
    const client = createClient({ baseURL: gateway.baseURL, lifecycle, reconnectOnVisible: true });
    const stream = client.chat.stream(request, {
      onText: (_delta, text) => {
        if (text === 'Hello') lifecycle.setVisible(true);
      },
    });
    expect(await stream.text()).toBe(gateway.text);
    expect(gateway.requests[1]?.headers['last-event-id']).toBe('3');
  });

  it('ends with a final StreamError on a mid-stream error event', async () => {
    const gateway = await start();
    gateway.faults = [
      { kind: 'error-after', events: 4, code: 'content_filter', type: 'invalid_request_error' },
    ];
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry });
    const error = await client.chat
      .stream(request)
      .text()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StreamError);
    expect(error).toMatchObject({ code: 'content_filter', retryable: false });
    expect(gateway.requests).toHaveLength(1);
  });

  it('starts again after a transient mid-stream error and announces the restart', async () => {
    const gateway = await start();
    gateway.faults = [{ kind: 'error-after', events: 4, code: 'shutting_down' }];
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry });
    const { shown, types } = await render(client.chat.stream(request));
    expect(shown).toBe(gateway.text);
    expect(types).toContain('restarted');
    const [first, second] = gateway.requests;
    expect(second?.method).toBe('POST');
    expect(second?.headers['idempotency-key']).not.toBe(first?.headers['idempotency-key']);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const gateway = await start();
    gateway.faults = Array.from({ length: 5 }, () => ({ kind: 'status', status: 503 }) as const);
    const retries: number[] = [];
    const client = createClient({
      baseURL: gateway.baseURL,
      retry: { ...fastRetry, maxAttempts: 2 },
      onRetry: ({ attempt }) => {
        retries.push(attempt);
        return undefined;
      },
    });
    const error = await client.chat
      .stream(request)
      .text()
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 503, retryable: true });
    expect(retries).toEqual([1, 2]);
    expect(gateway.requests).toHaveLength(3);
  });

  it('lets onRetry veto a retry or change its delay', async () => {
    const gateway = await start();
    gateway.faults = [
      { kind: 'status', status: 503 },
      { kind: 'status', status: 503 },
    ];
    const client = createClient({
      baseURL: gateway.baseURL,
      retry: { initialDelayMs: 60_000 },
      onRetry: ({ attempt }) => (attempt === 1 ? 0 : false),
    });
    const stream = client.chat.stream(request);
    const error = await stream.text().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 503 });
    expect(gateway.requests).toHaveLength(2);
  });
});

describe('chat.stream against a plain OpenAI-compatible server (no X-Stream-Id)', () => {
  it('restarts after a drop and emits restarted so the partial answer is replaced, not doubled', async () => {
    const gateway = await start({ plain: true });
    gateway.faults = [{ kind: 'cut-after', events: 4 }];
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry });
    const stream = client.chat.stream(request);
    const { shown, types } = await render(stream);
    expect(shown).toBe(gateway.text);
    expect(await stream.text()).toBe(gateway.text);
    expect(types.filter((type) => type === 'restarted')).toHaveLength(1);
    expect(gateway.requests.map((entry) => entry.method)).toEqual(['POST', 'POST']);
  });

  it("fails with ResumeUnsupportedError under onNoResume: 'fail'", async () => {
    const gateway = await start({ plain: true });
    gateway.faults = [{ kind: 'cut-after', events: 4 }];
    const client = createClient({ baseURL: gateway.baseURL, retry: fastRetry, onNoResume: 'fail' });
    await expect(client.chat.stream(request).text()).rejects.toBeInstanceOf(ResumeUnsupportedError);
  });
});

describe('client scheduler', () => {
  it('runs at most maxConcurrent streams at once, in request order', async () => {
    const gateway = await start();
    const client = createClient({ baseURL: gateway.baseURL, maxConcurrent: 1 });
    const order: string[] = [];
    const streams = ['a', 'b', 'c'].map((name) =>
      client.chat.stream(request, {
        onStatus: (status) => {
          if (status.type === 'open' || status.type === 'done') order.push(`${name}:${status.type}`);
        },
      }),
    );
    await Promise.all(streams.map((stream) => stream.text()));
    expect(order).toEqual(['a:open', 'a:done', 'b:open', 'b:done', 'c:open', 'c:done']);
  });
});

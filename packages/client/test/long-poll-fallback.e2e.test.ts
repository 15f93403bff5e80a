import { type Gateway, parseConfig, simText, startGateway } from '@spool/gateway';
import {
  type BufferingProxy,
  type BufferMode,
  createBufferingProxy,
  createFaultProxy,
  cutAtRandom,
  seededRandom,
} from '@spool/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BufferedVerdicts,
  type ChatStreamEvent,
  createClient,
  type ResponsesStreamEvent,
  StreamError,
} from '../src/index.js';

const messages = [
  { role: 'user' as const, content: 'Tell me, slowly, why buffering proxies break streams.' },
];
const request = { model: 'sim', messages };
const expected = simText({ model: 'sim', messages });

let gateway: Gateway;
let upstreamOpens = 0;
let proxy: BufferingProxy | undefined;

beforeAll(async () => {
  gateway = await startGateway(
    parseConfig({
      server: { port: 0, logLevel: 'silent', shutdownGraceMs: 1_000, longPollMaxWaitMs: 5_000 },
      // The sim's slow pace (25 tokens/s): the answer takes seconds, so a first token that arrives
      // within a long-poll round trip is told apart from one that waited for the whole answer.
      providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 25 } },
      models: [{ match: '*', provider: 'sim' }],
      usage: { store: 'memory' },
    }),
    { env: {} },
  );
  const chain = gateway.context.chain;
  const openStream = chain.openStream.bind(chain);
  chain.openStream = (...args: Parameters<typeof openStream>) => {
    upstreamOpens += 1;
    return openStream(...args);
  };
  const openSurface = chain.openSurface.bind(chain);
  chain.openSurface = (...args: Parameters<typeof openSurface>) => {
    upstreamOpens += 1;
    return openSurface(...args);
  };
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

afterAll(() => gateway?.close());

/** Streams the request through the proxy, recording when each event arrived (ms from the start). */
async function streamThrough(url: string, verdicts: BufferedVerdicts) {
  const client = createClient({
    baseURL: `${url}/v1`,
    bufferDetection: { firstByteTimeoutMs: 300, headersTimeoutMs: 600, verdicts },
  });
  const started = performance.now();
  const stream = client.chat.stream(request);
  const events: Array<{ event: ChatStreamEvent; atMs: number }> = [];
  for await (const event of stream) events.push({ event, atMs: performance.now() - started });
  return { stream, events, text: await stream.text() };
}

describe.each(['body', 'whole'] as BufferMode[])(
  'auto transport behind a proxy that buffers the %s',
  (mode) => {
    it('falls back to long-poll by itself and delivers the answer in pieces as generated, exact, one generation', async () => {
      proxy = await createBufferingProxy({ target: { host: '127.0.0.1', port: gateway.port }, mode });
      const verdicts = new BufferedVerdicts({ storage: null });
      const opensBefore = upstreamOpens;
      const { stream, events, text } = await streamThrough(proxy.url, verdicts);

      expect(text).toBe(expected);
      expect(upstreamOpens - opensBefore).toBe(1);
      const fallback = events.find(({ event }) => event.type === 'transport-fallback');
      expect(fallback?.event).toMatchObject({
        type: 'transport-fallback',
        to: 'long-poll',
        reason: mode === 'body' ? 'body-buffered' : 'headers-buffered',
      });
      expect(events.some(({ event }) => event.type === 'restarted')).toBe(false);
      expect(stream.stats().longPoll).toBe(true);
      // In pieces as generated: the first text arrives well before the last, not all at once at the end.
      const deltas = events.filter(({ event }) => event.type === 'text-delta');
      const first = deltas[0]?.atMs as number;
      const last = deltas.at(-1)?.atMs as number;
      expect(last - first).toBeGreaterThan(1000);
      expect(new Set(deltas.map(({ atMs }) => Math.round(atMs / 100))).size).toBeGreaterThan(5);

      // The verdict is remembered: the next stream starts in long-poll at once.
      const again = await streamThrough(proxy.url, verdicts);
      expect(again.text).toBe(expected);
      expect(again.events.find(({ event }) => event.type === 'transport-fallback')?.event).toMatchObject({
        reason: 'remembered',
      });
    });
  },
);

const responsesInput = 'Tell me, slowly, why buffering proxies break Responses streams.';
const responsesExpected = simText({ model: 'sim', messages: [{ role: 'user', content: responsesInput }] });

/**
 * A Responses stream read through `client`: its text, its raw events' sequence numbers, its
 * status events and when each text delta arrived (ms from the start).
 */
async function readResponses(client: ReturnType<typeof createClient>) {
  const started = performance.now();
  const stream = client.responses.stream({ model: 'sim', input: responsesInput });
  const sequence: number[] = [];
  const statuses: ResponsesStreamEvent[] = [];
  const deltaTimesMs: number[] = [];
  for await (const event of stream) {
    if (event.type === 'event') sequence.push(event.event.sequence_number as number);
    else if (event.type === 'text-delta') deltaTimesMs.push(performance.now() - started);
    else if (event.type !== 'finish' && event.type !== 'usage') statuses.push(event);
  }
  return { stream, sequence, statuses, deltaTimesMs, text: await stream.text() };
}

describe.each(['body', 'whole'] as BufferMode[])(
  'a Responses stream under auto behind a proxy that buffers the %s',
  (mode) => {
    it('falls back to long-poll and delivers every event once, in order, from one generation', async () => {
      const direct = await readResponses(createClient({ baseURL: `${gateway.url}/v1`, transport: 'fetch' }));
      proxy = await createBufferingProxy({ target: { host: '127.0.0.1', port: gateway.port }, mode });
      const opensBefore = upstreamOpens;
      const client = createClient({
        baseURL: `${proxy.url}/v1`,
        bufferDetection: {
          firstByteTimeoutMs: 300,
          headersTimeoutMs: 600,
          verdicts: new BufferedVerdicts({ storage: null }),
        },
      });
      const { stream, sequence, statuses, deltaTimesMs, text } = await readResponses(client);

      expect(text).toBe(responsesExpected);
      // In pieces as generated (the POST is answered 202 and read by long-poll), not all at the end.
      expect((deltaTimesMs.at(-1) as number) - (deltaTimesMs[0] as number)).toBeGreaterThan(1000);
      expect(upstreamOpens - opensBefore).toBe(1);
      expect(statuses.find((status) => status.type === 'transport-fallback')).toMatchObject({
        reason: mode === 'body' ? 'body-buffered' : 'headers-buffered',
      });
      expect(stream.stats().longPoll).toBe(true);
      // The long-poll answers carry the events as the event stream does: every sequence number once.
      expect(sequence).toEqual(direct.sequence.map((_, index) => index));
      expect(stream.lastSequenceNumber).toBe(direct.sequence.length - 1);
      expect((await stream.finalResponse())?.status).toBe('completed');
    });
  },
);

/** A proxy to the gateway that cuts every other connection somewhere in its first 2,000 bytes: POSTs and reads alike. */
function cuttingProxy(seed: number) {
  const random = seededRandom(seed);
  return createFaultProxy({
    target: { host: '127.0.0.1', port: gateway.port },
    plan: (index) => (index % 2 === 1 ? [cutAtRandom({ maxBytes: 2000, random })] : []),
  });
}

/** A client that reads by long-poll from the start and retries at once, as often as the cuts need. */
function longPollClient(baseURL: string) {
  return createClient({
    baseURL: `${baseURL}/v1`,
    transport: 'long-poll',
    retry: { maxAttempts: 50, initialDelayMs: 0, maxDelayMs: 0 },
  });
}

describe('a Responses stream read by long-poll', () => {
  it.each([1, 2])(
    'resumes by its Spool id after random cuts, exactly, from one generation (seed %i)',
    async (seed) => {
      const faults = await cuttingProxy(seed);
      try {
        const opensBefore = upstreamOpens;
        const client = longPollClient(faults.url);
        const { stream, sequence, statuses, text } = await readResponses(client);
        expect(text).toBe(responsesExpected);
        expect(upstreamOpens - opensBefore).toBe(1);
        expect(sequence).toEqual(sequence.map((_, index) => index));
        expect(statuses.some((status) => status.type === 'resumed')).toBe(true);
        expect(faults.stats.cuts).toBeGreaterThan(0);
        expect(stream.stats().reconnects).toBeGreaterThan(0);
      } finally {
        await faults.close();
      }
    },
  );
});

describe('auto transport on a network that does not buffer', () => {
  it('streams without falling back', async () => {
    const verdicts = new BufferedVerdicts({ storage: null });
    const { stream, events, text } = await streamThrough(gateway.url, verdicts);
    expect(text).toBe(expected);
    expect(events.some(({ event }) => event.type === 'transport-fallback')).toBe(false);
    expect(stream.stats().longPoll).toBe(false);
  });
});

describe('the long-poll transport', () => {
  it.each([1, 2, 3])(
    'delivers the answer exactly, from one generation, when its connections are cut at random bytes (seed %i)',
    async (seed) => {
      const faults = await cuttingProxy(seed);
      try {
        const opensBefore = upstreamOpens;
        const stream = longPollClient(faults.url).chat.stream(request);
        expect(await stream.text()).toBe(expected);
        expect(upstreamOpens - opensBefore).toBe(1);
        expect(faults.stats.cuts).toBeGreaterThan(0);
        expect(stream.stats().reconnects).toBeGreaterThan(0);
      } finally {
        await faults.close();
      }
    },
  );

  it('stops the generation on cancel(), as the streaming transports do', async () => {
    const client = createClient({ baseURL: `${gateway.url}/v1`, transport: 'long-poll' });
    const stream = client.chat.stream(request);
    for await (const event of stream) {
      if (event.type === 'text-delta') break;
    }
    await stream.cancel();
    const streamId = stream.streamId as string;
    expect(streamId).toMatch(/^str_/);
    // Read the stream to its end: it ends short, cancelled, well before the whole answer.
    let after = 0;
    let data = '';
    for (;;) {
      const answer = await fetch(`${gateway.url}/v1/streams/${streamId}?after=${after}&wait=5`);
      const body = (await answer.json()) as {
        events: Array<{ data: string }>;
        next_after: number;
        ended: boolean;
      };
      data += body.events.map((event) => event.data).join('');
      after = body.next_after;
      if (body.ended) break;
    }
    const meta = await gateway.context.store.getMeta(streamId);
    expect(typeof meta === 'object' ? meta.state : meta).toBe('cancelled');
    expect(data.length).toBeGreaterThan(0);
  });
});

describe('the long-poll transport with a short idle watchdog', () => {
  it('waits well within the watchdog, so a quiet stream is not taken for a dead connection', async () => {
    const client = createClient({
      baseURL: `${gateway.url}/v1`,
      transport: 'long-poll',
      // 25 tokens/s leaves gaps of 40 ms; with reads held for the default 20 s, a 400 ms watchdog
      // would cut every read that waits.
      idleTimeoutMs: 400,
    });
    const stream = client.chat.stream(request, {
      headers: { 'x-spool-fault': 'stall-after=3;stall-ms=1500' },
    });
    expect(await stream.text()).toBe(expected);
    expect(stream.stats().reconnects).toBe(0);
  });
});

describe('auto transport in front of a slow upstream (first token after the headers timeout)', () => {
  let slow: Gateway;
  // Scaled down as the other tests here: the client presumes a whole-response buffer after 600 ms
  // without headers; the gateway commits its first bytes within 100 ms of admitting the request.
  const detection = { firstByteTimeoutMs: 300, headersTimeoutMs: 600 };
  const slowFirstToken = { 'x-spool-fault': 'ttft-ms=1500' };

  beforeAll(async () => {
    slow = await startGateway(
      parseConfig({
        server: { port: 0, logLevel: 'silent', shutdownGraceMs: 1_000, firstBytesWithinMs: 100 },
        providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 200 } },
        models: [{ match: '*', provider: 'sim' }],
        resilience: { retry: { attempts: 0 } },
        usage: { store: 'memory' },
      }),
      { env: {} },
    );
  });
  afterAll(() => slow?.close());

  it('is not taken for a buffering network: the first bytes leave before the upstream answers, the stream stays streamed', async () => {
    const verdicts = new BufferedVerdicts({ storage: null });
    const client = createClient({ baseURL: `${slow.url}/v1`, bufferDetection: { ...detection, verdicts } });
    const started = performance.now();
    const stream = client.chat.stream(request, { headers: slowFirstToken });
    const events: Array<{ event: ChatStreamEvent; atMs: number }> = [];
    for await (const event of stream) events.push({ event, atMs: performance.now() - started });

    expect(await stream.text()).toBe(expected);
    expect(events.map(({ event }) => event.type)).not.toContain('transport-fallback');
    expect(stream.stats().longPoll).toBe(false);
    expect(verdicts.isBuffered(slow.url)).toBe(false);
    const firstDelta = events.find(({ event }) => event.type === 'text-delta');
    expect(firstDelta?.atMs).toBeGreaterThan(1500);
    expect(stream.stats().reconnects).toBe(0);
  });

  it('ends the stream with the upstream’s error event when the upstream refuses after the first bytes left', async () => {
    const client = createClient({
      baseURL: `${slow.url}/v1`,
      bufferDetection: { ...detection, verdicts: new BufferedVerdicts({ storage: null }) },
      retry: { maxAttempts: 1 },
    });
    // An error just after the first (role-only) chunk, 800 ms in: the 200 and `retry:` left long before.
    const stream = client.chat.stream(request, { headers: { 'x-spool-fault': 'ttft-ms=800;error-after=1' } });
    const failure = await stream.text().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StreamError);
    expect(failure).toMatchObject({ code: 'sim_fault' });
  });

  it('still answers an upstream that refuses at once with its HTTP status', async () => {
    const answer = await fetch(`${slow.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-spool-fault': 'status=503;retry-after=1' },
      body: JSON.stringify({ ...request, stream: true }),
    });
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('1');
    await answer.text();
  });
});

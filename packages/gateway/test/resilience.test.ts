import { request as httpRequest } from 'node:http';
import { seededRandom } from '@spool/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Gateway,
  type GatewayConfigInput,
  type SimServer,
  simText,
  startSimServer,
} from '../src/index.js';
import { parseSse, postChat, startTestGateway, textOf } from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Fail over for me.' }];
const request = { model: 'sim', messages, stream: true };
const expected = simText({ model: 'sim', messages });

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.map((server) => server.close()));
  open = [];
});

/** Two standalone sims, A and B; A fails every request the way `faultA` says. */
async function setup(
  faultA: string | undefined,
  resilience: GatewayConfigInput['resilience'] = {},
  weights = [1, 0],
  random?: () => number,
) {
  const [a, b] = await Promise.all([startSimServer({ port: 0 }), startSimServer({ port: 0 })]);
  const gateway: Gateway = await startTestGateway(
    {
      providers: {
        a: { type: 'openai', baseURL: a.baseURL, headers: faultA ? { 'x-spool-fault': faultA } : {} },
        b: { type: 'openai', baseURL: b.baseURL },
      },
      models: [
        {
          match: '*',
          targets: [
            { provider: 'a', weight: weights[0] ?? 1 },
            { provider: 'b', weight: weights[1] ?? 0 },
          ],
        },
      ],
      resilience,
    },
    { random },
  );
  open.push(gateway, a, b);
  return { a, b, gateway };
}

const count = (sim: SimServer) => sim.stats.chatCompletions;

describe('upstream resilience', () => {
  it('fails over to the next provider when the first keeps failing before the first byte', async () => {
    const { a, b, gateway } = await setup('status=503', {
      retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 },
    });
    const response = await postChat(gateway.url, request);
    expect(response.status).toBe(200);
    expect(textOf(parseSse(response.body))).toBe(expected);
    expect([count(a), count(b)]).toEqual([2, 1]);
  });

  it('retries the same provider after its Retry-After when it fails once', async () => {
    const { a, b, gateway } = await setup('status=503;retry-after=0;times=1;key=once', {
      retry: { attempts: 2 },
    });
    const response = await postChat(gateway.url, request);
    expect(textOf(parseSse(response.body))).toBe(expected);
    expect([count(a), count(b)]).toEqual([2, 0]);
  });

  it('fails over when an upstream answers 200 and then an error before its first token (read-ahead)', async () => {
    const { a, b, gateway } = await setup('error-after=1');
    const response = await postChat(gateway.url, request);
    const events = parseSse(response.body);
    expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));
    expect(textOf(events)).toBe(expected);
    expect([count(a), count(b)]).toEqual([1, 1]);
  });

  it('does not fail over after the first token: the stream ends with one error event', async () => {
    const { a, b, gateway } = await setup('drop-after=5');
    const events = parseSse((await postChat(gateway.url, request)).body);
    expect(JSON.parse(events.at(-1)?.data ?? '{}').error.code).toBe('upstream_error');
    expect([count(a), count(b)]).toEqual([1, 0]);
  });

  it('opens the circuit breaker after repeated failures and stops sending to that upstream', async () => {
    const { a, b, gateway } = await setup('status=500', {
      breaker: { failureThreshold: 2, cooldownMs: 60_000 },
    });
    for (let index = 0; index < 5; index++) {
      const response = await postChat(gateway.url, request);
      expect(textOf(parseSse(response.body))).toBe(expected);
    }
    expect(count(a)).toBe(2);
    expect(count(b)).toBe(5);
    expect(gateway.context.chain.breaker('a').state).toBe('open');
  });

  it('answers the last upstream error when every target fails', async () => {
    const [a, b] = await Promise.all([startSimServer({ port: 0 }), startSimServer({ port: 0 })]);
    const gateway = await startTestGateway({
      providers: {
        a: { type: 'openai', baseURL: a.baseURL, headers: { 'x-spool-fault': 'status=503;retry-after=9' } },
        b: { type: 'openai', baseURL: b.baseURL, headers: { 'x-spool-fault': 'status=502' } },
      },
      models: [{ match: '*', targets: [{ provider: 'a' }, { provider: 'b', weight: 0 }] }],
    });
    open.push(gateway, a, b);
    const response = await postChat(gateway.url, request);
    expect(response.status).toBe(502);
    expect(JSON.parse(response.body).error.code).toBe('sim_fault');
    expect([count(a), count(b)]).toEqual([1, 1]);
  });

  it('sends about its weight of traffic to a canary target', async () => {
    // Seeded, so the split is the same on every run: a test that cannot flake on a rare draw.
    const { a, b, gateway } = await setup(undefined, {}, [9, 1], seededRandom(17));
    for (let index = 0; index < 200; index++) await postChat(gateway.url, { ...request, stream: false });
    expect(count(a) + count(b)).toBe(200);
    expect(count(b)).toBeGreaterThan(5);
    expect(count(b)).toBeLessThan(45);
  });

  it('bounds the requests in flight to an upstream and refuses a queued one after its timeout with 503', async () => {
    const sim = await startSimServer({ port: 0 });
    const gateway = await startTestGateway({
      providers: {
        a: {
          type: 'openai',
          baseURL: sim.baseURL,
          connections: 1,
          queueTimeoutMs: 50,
          passHeaders: ['x-spool-fault'],
        },
      },
      models: [{ match: '*', provider: 'a' }],
    });
    open.push(gateway, sim);
    let markUnderway = () => {};
    const underway = new Promise<void>((resolve) => {
      markUnderway = resolve;
    });
    // Hold the only slot with a stream that stalls, and wait until it is under way.
    const stalled = new Promise<string>((resolve, reject) => {
      const client = httpRequest(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-spool-fault': 'stall-after=3;stall-ms=300' },
      });
      client.on('error', reject);
      client.end(JSON.stringify(request));
      client.on('response', (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => resolve(body));
        markUnderway();
      });
    });
    await underway;
    const busy = await postChat(gateway.url, request);
    expect(busy.status).toBe(503);
    expect(JSON.parse(busy.body).error.code).toBe('upstream_busy');
    expect(busy.headers['retry-after']).toBe('1');
    expect(textOf(parseSse(await stalled))).toBe(expected);
    expect(sim.stats.chatCompletions).toBe(1);
  });
});

import { createClient, HttpError } from '@spool/client';
import { getFreePort } from '@spool/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, startSimServer } from '../src/index.js';
import { postChat, rawRequest, startTestGateway } from './helpers.js';

const request = { model: 'gpt-test', messages: [{ role: 'user' as const, content: 'Hello?' }], stream: true };

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

/** A gateway whose only upstream is a port nothing listens on; its breaker opens after two failures. */
async function gatewayToDeadUpstream(): Promise<Gateway> {
  gateway = await startTestGateway({
    providers: { dead: { type: 'openai', baseURL: `http://127.0.0.1:${await getFreePort()}/v1` } },
    models: [{ match: '*', provider: 'dead' }],
    resilience: {
      retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 },
      breaker: { failureThreshold: 2, cooldownMs: 60_000 },
    },
  });
  return gateway;
}

describe('an unreachable upstream', () => {
  it('answers 502 upstream_unreachable saying why, and no breaker Retry-After once the breaker opens', async () => {
    const { url, context } = await gatewayToDeadUpstream();
    const first = await postChat(url, request);
    expect(first.status).toBe(502);
    expect(JSON.parse(first.body).error).toMatchObject({
      code: 'upstream_unreachable',
      message: expect.stringMatching(/"dead" is unreachable \(ECONNREFUSED\)/),
      // Whose failure it is, so a client can say "the model's server", not "the gateway".
      provider: 'dead',
    });
    expect(context.chain.breaker('dead').state).toBe('open');
    const second = await postChat(url, request);
    expect(second.status).toBe(502);
    const error = JSON.parse(second.body).error;
    expect(error).toMatchObject({ code: 'upstream_unreachable', provider: 'dead' });
    // Why (the last failure) and when it is tried again, in the message; no 30 s wait for clients.
    expect(error.message).toMatch(/unreachable \(ECONNREFUSED\).*tries it again in (59|60) s/);
    expect(second.headers['retry-after']).toBeUndefined();
  });

  it('fails a @spool/client stream at once as unreachable instead of waiting out a cool-down', async () => {
    const { url } = await gatewayToDeadUpstream();
    const retries: number[] = [];
    const client = createClient({
      baseURL: `${url}/v1`,
      onRetry: ({ delayMs }) => {
        retries.push(delayMs);
        return undefined;
      },
    });
    for (let attempt = 0; attempt < 2; attempt++) {
      const started = performance.now();
      const failure = await client.chat
        .stream(request)
        .text()
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(HttpError);
      expect(failure).toMatchObject({ code: 'upstream_unreachable', status: 502, retryable: false });
      expect(performance.now() - started).toBeLessThan(5000);
    }
    expect(retries).toEqual([]);
  });

  it('keeps listing its last known models in /v1/models, and /ready names it as down', async () => {
    const upstream = await startSimServer({ port: 0 });
    gateway = await startTestGateway({
      providers: {
        sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 },
        remote: { type: 'openai', baseURL: upstream.baseURL },
      },
      models: [
        { match: 'local', provider: 'sim' },
        { match: '*', provider: 'remote' },
      ],
    });
    const ids = async () =>
      JSON.parse((await rawRequest(`${gateway?.url}/v1/models`)).body).data.map(
        (model: { id: string }) => model.id,
      );
    expect(await ids()).toEqual(['local', 'sim', 'sim-fast', 'sim-slow']);
    await upstream.close();
    expect(await ids()).toEqual(['local', 'sim', 'sim-fast', 'sim-slow']);
    const ready = await rawRequest(`${gateway.url}/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({
      status: 'not_ready',
      upstreamsDown: ['remote'],
      checks: { 'provider:sim': 'ok', 'provider:remote': expect.stringMatching(/"remote"/) },
    });
  });
});

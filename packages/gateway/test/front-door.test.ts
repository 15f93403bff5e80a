import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { postChat, rawRequest, startTestGateway } from './helpers.js';

const KEY = 'sk-front-door-1';
const CHAT = { model: 'sim', messages: [{ role: 'user', content: 'hi' }] };

/** An address of this machine that is not loopback, to be a non-loopback client of itself. */
const outsideAddress = Object.values(networkInterfaces())
  .flat()
  .find((entry) => entry?.family === 'IPv4' && !entry.internal)?.address;

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

function codeOf(body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

describe('dev mode against DNS rebinding', () => {
  it('refuses a rebound page (Host and Origin evil.example, from loopback) with 403 host_not_allowed', async () => {
    gateway = await startTestGateway();
    const headers = { host: `evil.example:${gateway.port}`, origin: `http://evil.example:${gateway.port}` };
    const chat = await postChat(gateway.url, CHAT, headers);
    expect(chat.status).toBe(403);
    expect(codeOf(chat.body)).toBe('host_not_allowed');
    expect(JSON.parse(chat.body).error.message).toContain('localhost');
    const models = await rawRequest(`${gateway.url}/v1/models`, { headers });
    expect(models.status).toBe(403);
  });

  it.each(['localhost', 'LOCALHOST:1', 'app.localhost:5173', '127.0.0.1', '127.9.8.7:80', '[::1]:8787'])(
    'serves Host %s',
    async (host) => {
      gateway = await startTestGateway();
      const chat = await postChat(gateway.url, CHAT, { host, origin: `http://${host}` });
      expect(chat.status).toBe(200);
    },
  );

  it('leaves Host alone when keys are configured', async () => {
    gateway = await startTestGateway({ keys: [{ name: 'k', key: KEY }] });
    const chat = await postChat(gateway.url, CHAT, { host: 'api.example', authorization: `Bearer ${KEY}` });
    expect(chat.status).toBe(200);
  });
});

describe('credentials that hold no key', () => {
  it.each(['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'Token abc'])(
    'answers Authorization "%s" with 401 in dev mode',
    async (authorization) => {
      gateway = await startTestGateway();
      const chat = await postChat(gateway.url, CHAT, { authorization });
      expect(chat.status).toBe(401);
      expect(codeOf(chat.body)).toBe('invalid_api_key');
    },
  );

  it('serves any well-formed key in dev mode, as SDKs insist on sending one', async () => {
    gateway = await startTestGateway();
    expect((await postChat(gateway.url, CHAT, { authorization: 'Bearer sk-anything' })).status).toBe(200);
  });

  it('refuses a stream read with a malformed Authorization instead of serving it as anonymous', async () => {
    gateway = await startTestGateway({ keys: [{ name: 'k', key: KEY }] });
    const created = await postChat(
      gateway.url,
      { ...CHAT, stream: true },
      { authorization: `Bearer ${KEY}` },
    );
    const streamId = created.headers['x-stream-id'] as string;
    const url = `${gateway.url}/v1/streams/${streamId}`;
    const malformed = await rawRequest(url, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(malformed.status).toBe(401);
    const emptyApiKey = await rawRequest(url, { headers: { 'x-api-key': ' ' } });
    expect(emptyApiKey.status).toBe(401);
    // The stream id alone is still the capability.
    expect((await rawRequest(url)).status).toBe(200);
  });
});

describe('/ready', () => {
  it('names the store and providers to a loopback caller', async () => {
    gateway = await startTestGateway({ keys: [{ name: 'k', key: KEY }] });
    const ready = JSON.parse((await rawRequest(`${gateway.url}/ready`)).body);
    expect(ready).toEqual({
      status: 'ready',
      checks: { 'store:memory': 'ok', 'provider:sim': 'ok' },
      upstreamsDown: [],
    });
  });

  it.runIf(outsideAddress)('gives others the status alone, and the checks with a valid key', async () => {
    gateway = await startTestGateway({
      server: { host: outsideAddress },
      keys: [{ name: 'k', key: KEY }],
    });
    const anonymous = await rawRequest(`${gateway.url}/ready`);
    expect([anonymous.status, JSON.parse(anonymous.body)]).toEqual([200, { status: 'ready' }]);
    const wrongKey = await rawRequest(`${gateway.url}/ready`, {
      headers: { authorization: 'Bearer sk-nope-1234' },
    });
    expect(JSON.parse(wrongKey.body)).toEqual({ status: 'ready' });
    const keyed = await rawRequest(`${gateway.url}/ready`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(JSON.parse(keyed.body).checks).toEqual({ 'store:memory': 'ok', 'provider:sim': 'ok' });
  });

  it.runIf(outsideAddress)('gives a non-loopback caller of a dev-mode gateway the status alone', async () => {
    gateway = await startTestGateway({ server: { host: outsideAddress } });
    const ready = await rawRequest(`${gateway.url}/ready`, { headers: { host: 'localhost' } });
    expect([ready.status, JSON.parse(ready.body)]).toEqual([200, { status: 'ready' }]);
  });
});

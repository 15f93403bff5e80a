import { type Gateway, parseConfig, startGateway } from '@spool/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatStreamEvent, type ClientOptions, createClient } from '../src/index.js';
import { NodeXhr } from './node-xhr.js';

const request = { model: 'sim', messages: [{ role: 'user' as const, content: 'Finish, then resume me.' }] };

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startGateway(
    parseConfig({
      server: { port: 0, logLevel: 'silent', shutdownGraceMs: 1_000 },
      providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 } },
      models: [{ match: '*', provider: 'sim' }],
      usage: { store: 'memory' },
    }),
    { env: {} },
  );
});

afterAll(() => gateway?.close());

/** Client options over one transport, and a count of the HTTP requests it has sent. */
type TransportUnderTest = () => { options: Partial<ClientOptions>; requests: () => number };

describe.each([
  [
    'fetch',
    () => {
      let requests = 0;
      const countingFetch: ClientOptions['fetch'] = (input, init) => {
        requests += 1;
        return fetch(input, init);
      };
      return { options: { fetch: countingFetch }, requests: () => requests };
    },
  ],
  [
    'xhr',
    () => {
      const before = NodeXhr.instances.length;
      return {
        options: { transport: 'xhr', XMLHttpRequest: NodeXhr },
        requests: () => NodeXhr.instances.length - before,
      };
    },
  ],
] as Array<[string, TransportUnderTest]>)(
  'chat.resume of a finished gateway stream (%s)',
  (_name, transport) => {
    it('from its last event id is done at once with no text, no retry and one request (204)', async () => {
      const finished = createClient({ baseURL: `${gateway.url}/v1` }).chat.stream(request);
      expect(await finished.text()).not.toBe('');
      const streamId = finished.streamId as string;
      const lastEventId = finished.lastEventId;
      expect(lastEventId).toBeGreaterThan(1);

      const { options, requests } = transport();
      const errors: unknown[] = [];
      const client = createClient({ baseURL: `${gateway.url}/v1`, retry: { initialDelayMs: 0 }, ...options });
      const resumed = client.chat.resume(streamId, { lastEventId, onError: (error) => errors.push(error) });
      const events: ChatStreamEvent[] = [];
      for await (const event of resumed) events.push(event);
      expect(events.map((event) => event.type)).toEqual(['connecting', 'resumed', 'done']);
      expect(await resumed.text()).toBe('');
      expect(resumed.lastEventId).toBe(lastEventId);
      expect(resumed.stats().reconnects).toBe(0);
      expect(errors).toEqual([]);
      expect(requests()).toBe(1);
    });

    it('from an earlier id still replays the rest, then is done', async () => {
      const finished = createClient({ baseURL: `${gateway.url}/v1` }).chat.stream(request);
      const text = await finished.text();
      const { options, requests } = transport();
      const client = createClient({ baseURL: `${gateway.url}/v1`, ...options });
      const resumed = client.chat.resume(finished.streamId as string, { lastEventId: 0 });
      expect(await resumed.text()).toBe(text);
      expect(resumed.lastEventId).toBe(finished.lastEventId);
      expect(requests()).toBe(1);
    });
  },
);

import { type Gateway, parseConfig, simText, startGateway } from '@spool/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AssembledStreamEvent, createClient } from '../src/index.js';

const content = 'Resume this Claude-shaped stream.';
const params = { model: 'sim', max_tokens: 400, messages: [{ role: 'user', content }] };
const expected = simText({ model: 'sim', messages: [{ role: 'user', content }], max_tokens: 400 });

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startGateway(
    parseConfig({
      server: { port: 0, logLevel: 'silent', shutdownGraceMs: 1_000, retryMs: 10 },
      providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 } },
      models: [{ match: '*', provider: 'sim' }],
      usage: { store: 'memory' },
    }),
    { env: {} },
  );
});

afterAll(() => gateway?.close());

describe('client.messages.stream against a gateway', () => {
  it('streams an Anthropic Messages answer as text-delta events and resolves the message', async () => {
    const client = createClient({ baseURL: `${gateway.url}/v1` });
    const stream = client.messages.stream(params);
    const events: AssembledStreamEvent<unknown>[] = [];
    for await (const event of stream) events.push(event);
    expect(await stream.text()).toBe(expected);
    const message = await stream.final();
    expect(message.content).toEqual([{ type: 'text', text: expected }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(events.filter((event) => event.type === 'finish')).toEqual([
      { type: 'finish', choiceIndex: 0, finishReason: 'stop' },
    ]);
    expect(stream.streamId).toMatch(/^str_/);
  });

  it('resumes exactly after the gateway cuts the connection mid-stream, with the same reconnect and stats', async () => {
    const client = createClient({
      baseURL: `${gateway.url}/v1`,
      retry: { initialDelayMs: 0, jitter: 'none' },
    });
    const stream = client.messages.stream(params, { headers: { 'x-spool-fault': 'client-cut-after=6' } });
    let shown = '';
    for await (const event of stream) if (event.type === 'text-delta') shown += event.delta;
    expect(shown).toBe(expected);
    expect(stream.stats().reconnects).toBe(1);
    const again = client.messages.resume(stream.streamId as string, { lastEventId: 3 });
    expect((await again.final()).stop_reason).toBe('end_turn');
  });
});

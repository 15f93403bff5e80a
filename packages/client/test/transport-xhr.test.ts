import { afterEach, describe, expect, it } from 'vitest';
import { type ChatStreamEvent, createClient } from '../src/index.js';
import { createXhrTransport } from '../src/transport-xhr.js';
import { NodeXhr } from './node-xhr.js';
import { type SseServer, startSseServer } from './sse-server.js';

const TOKENS = ['Über', ' die', ' Brücke', ' 🌉', ' gehen', '.'];
const request = { model: 'sim', messages: [{ role: 'user' as const, content: 'Hi' }] };

let server: SseServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  NodeXhr.instances = [];
});

describe('XHR transport', () => {
  it('streams a completion through progress events and resumes after cuts', async () => {
    server = await startSseServer({ tokens: TOKENS });
    server.faults = [
      { kind: 'cut-after', events: 2, midEvent: true },
      { kind: 'cut-after', events: 3 },
    ];
    const client = createClient({
      baseURL: server.baseURL,
      transport: 'xhr',
      XMLHttpRequest: NodeXhr,
      retry: { initialDelayMs: 0 },
    });
    const stream = client.chat.stream(request);
    const deltas: string[] = [];
    const types: ChatStreamEvent['type'][] = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'text-delta') deltas.push(event.delta);
    }
    expect(deltas).toEqual(TOKENS);
    expect(types.filter((type) => type === 'resumed')).toHaveLength(2);
    expect(server.requests[1]?.headers['last-event-id']).toBe('2');
    expect(NodeXhr.instances.length).toBe(3);
    expect(stream.stats().bytes).toBeGreaterThan(0);
  });

  it('hands each progress event only the text added since the last one', async () => {
    server = await startSseServer({ tokens: TOKENS });
    const transport = createXhrTransport(NodeXhr);
    const response = await transport({
      url: `${server.baseURL}/chat/completions`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: new AbortController().signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-stream-id')).toMatch(/./);
    const chunks: string[] = [];
    let bytes = 0;
    await response.read((text, byteLength) => {
      chunks.push(text);
      bytes += byteLength;
      return undefined;
    });
    const whole = NodeXhr.instances[0]!.responseText;
    expect(chunks.join('')).toBe(whole);
    expect(bytes).toBe(Buffer.byteLength(whole));
  });

  it('rejects with a NetworkError when the connection fails before headers', async () => {
    server = await startSseServer({ tokens: TOKENS });
    server.faults = [{ kind: 'destroy-before-headers' }];
    const transport = createXhrTransport(NodeXhr);
    await expect(
      transport({
        url: `${server.baseURL}/chat/completions`,
        method: 'POST',
        headers: {},
        body: '{}',
        signal: new AbortController().signal,
      }),
    ).rejects.toMatchObject({ code: 'network_error', retryable: true });
  });
});

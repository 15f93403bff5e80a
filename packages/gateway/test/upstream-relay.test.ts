import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import { parseSse, postChat, rawRequest, simStats, spawnSim, startTestGateway, textOf } from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Relay me through a real upstream.' }];

function listen<T extends Server | TcpServer>(server: T): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

describe('relay through an OpenAI-compatible upstream (the standalone spool sim, a separate process)', () => {
  let sim: { child: ChildProcess; baseURL: string };
  let gateway: Gateway;
  let silent: TcpServer;
  let oddErrors: Server;
  const silentSockets = new Set<Socket>();

  beforeAll(async () => {
    sim = await spawnSim();
    silent = createTcpServer((socket) => {
      silentSockets.add(socket);
      socket.on('close', () => silentSockets.delete(socket));
    });
    const silentPort = await listen(silent);
    oddErrors = createServer((request, response) => {
      const status = request.url?.includes('/auth/') ? 401 : 422;
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ detail: `upstream says ${status}` }));
    });
    const oddPort = await listen(oddErrors);
    gateway = await startTestGateway({
      providers: {
        upstream: {
          type: 'openai',
          baseURL: sim.baseURL,
          apiKey: 'sk-upstream',
          passHeaders: ['x-spool-fault'],
        },
        nowhere: { type: 'openai', baseURL: 'http://127.0.0.1:1/v1' },
        silent: { type: 'openai', baseURL: `http://127.0.0.1:${silentPort}/v1`, firstByteTimeoutMs: 200 },
        odd: { type: 'openai', baseURL: `http://127.0.0.1:${oddPort}/v1` },
        oddAuth: { type: 'openai', baseURL: `http://127.0.0.1:${oddPort}/auth/v1` },
      },
      models: [
        { match: 'unreachable', provider: 'nowhere' },
        { match: 'slow', provider: 'silent' },
        { match: 'odd', provider: 'odd' },
        { match: 'odd-auth', provider: 'oddAuth' },
        { match: 'alias', provider: 'upstream', upstreamModel: 'sim-fast' },
        { match: '*', provider: 'upstream' },
      ],
    });
  });

  afterAll(async () => {
    await gateway.close();
    for (const socket of silentSockets) socket.destroy();
    silent.close();
    oddErrors.close();
    sim.child.kill('SIGTERM');
    await once(sim.child, 'exit');
  });

  it('relays a stream from the sim process with its text intact and numbered events', async () => {
    const before = await simStats(sim.baseURL);
    const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await openai.chat.completions.create({ model: 'sim', messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(simText({ model: 'sim', messages }));
    expect((await simStats(sim.baseURL)).chatCompletions).toBe(before.chatCompletions + 1);
  });

  it('sends the routed upstream model name', async () => {
    const response = await postChat(gateway.url, { model: 'alias', messages });
    expect(JSON.parse(response.body).choices[0].message.content).toBe(
      simText({ model: 'sim-fast', messages }),
    );
  });

  it('lists the upstream models through the wildcard route', async () => {
    const response = await rawRequest(`${gateway.url}/v1/models`);
    const ids = JSON.parse(response.body).data.map((model: { id: string }) => model.id);
    expect(ids).toEqual(
      expect.arrayContaining(['sim', 'sim-fast', 'sim-slow', 'unreachable', 'slow', 'odd', 'alias']),
    );
  });

  it('turns an upstream drop mid-stream into one error event', async () => {
    const response = await postChat(
      gateway.url,
      { model: 'sim', messages, stream: true },
      { 'x-spool-fault': 'drop-after=5' },
    );
    const events = parseSse(response.body);
    expect(events).toHaveLength(6);
    expect(JSON.parse(events[5]?.data ?? '{}').error.code).toBe('upstream_error');
    expect(simText({ model: 'sim', messages }).startsWith(textOf(events.slice(0, 5)))).toBe(true);
  });

  it('passes an upstream 429 with Retry-After through before the first byte', async () => {
    const response = await postChat(
      gateway.url,
      { model: 'sim', messages, stream: true },
      { 'x-spool-fault': 'status=429;retry-after=4' },
    );
    expect(response.status).toBe(429);
    expect(response.headers['retry-after']).toBe('4');
  });

  it('answers 502 upstream_unreachable when the upstream refuses connections', async () => {
    const response = await postChat(gateway.url, { model: 'unreachable', messages, stream: true });
    expect(response.status).toBe(502);
    expect(JSON.parse(response.body).error.code).toBe('upstream_unreachable');
  });

  it('answers 504 upstream_timeout when the upstream never answers', async () => {
    const response = await postChat(gateway.url, { model: 'slow', messages, stream: true });
    expect(response.status).toBe(504);
    expect(JSON.parse(response.body).error.code).toBe('upstream_timeout');
  });

  it("maps an upstream's non-OpenAI error body to OpenAI's shape with its status", async () => {
    const response = await postChat(gateway.url, { model: 'odd', messages });
    expect(response.status).toBe(422);
    expect(JSON.parse(response.body).error).toMatchObject({
      message: 'upstream says 422',
      type: 'invalid_request_error',
    });
  });

  it("reports an upstream refusing the gateway's own credentials as 502, not the caller's 401", async () => {
    const response = await postChat(gateway.url, { model: 'odd-auth', messages, stream: true });
    expect(response.status).toBe(502);
    expect(JSON.parse(response.body).error.message).toContain("rejected the gateway's credentials");
  });
});

describe('a client that goes away', () => {
  it('with a zero grace period, releases the upstream request', async () => {
    const sim = await spawnSim();
    const gateway = await startTestGateway({
      providers: { upstream: { type: 'openai', baseURL: sim.baseURL, passHeaders: ['x-spool-fault'] } },
      models: [{ match: '*', provider: 'upstream' }],
      spool: { disconnectGraceMs: 0 },
    });
    try {
      const { request } = await import('node:http');
      const client = request(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-spool-fault': 'stall-after=2' },
      });
      client.end(JSON.stringify({ model: 'sim', messages, stream: true }));
      const [response] = (await once(client, 'response')) as [import('node:http').IncomingMessage];
      await once(response, 'data');
      expect((await simStats(sim.baseURL)).openStreams).toBe(1);
      client.destroy();
      let open = 1;
      for (let attempt = 0; attempt < 200 && open > 0; attempt++) {
        open = (await simStats(sim.baseURL)).openStreams;
        if (open > 0) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(open).toBe(0);
    } finally {
      await gateway.close();
      sim.child.kill('SIGTERM');
      await once(sim.child, 'exit');
    }
  });
});

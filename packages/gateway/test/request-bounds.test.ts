import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Gateway, parseConfig, startGateway } from '../src/index.js';
import { postChat, startTestGateway } from './helpers.js';
import { chunk, openRaw, postHead, type RawConnection } from './raw-socket.js';

const MiB = 1024 * 1024;
const KEY = 'sk-bounds-key-1';
const OTHER_KEY = 'sk-bounds-key-2';

let gateway: Gateway | undefined;
const connections: RawConnection[] = [];
afterEach(async () => {
  for (const connection of connections.splice(0)) connection.socket.destroy();
  await gateway?.close();
  gateway = undefined;
});

async function open(bytes: string | Buffer): Promise<RawConnection> {
  const connection = await openRaw((gateway as Gateway).port, bytes);
  connections.push(connection);
  return connection;
}

function errorOf(body: string): { code: string; type: string; param: string | null } {
  return (JSON.parse(body) as { error: { code: string; type: string; param: string | null } }).error;
}

describe('request body bounds', () => {
  it('cuts a body that drips in slower than server.bodyTimeoutMs with 408 and closes the connection', async () => {
    gateway = await startTestGateway({ server: { bodyTimeoutMs: 300 } });
    const started = performance.now();
    const connection = await open(postHead(1000));
    // One byte every 50 ms: the connection is never idle, the body never ends.
    const drip = setInterval(() => connection.socket.write('{'), 50);
    try {
      const answer = await connection.answer;
      await connection.closed;
      const elapsed = performance.now() - started;
      expect(answer.status).toBe(408);
      expect(errorOf(answer.body).code).toBe('request_timeout');
      expect(answer.head.toLowerCase()).toContain('connection: close');
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(5000);
      expect(gateway.context.bodies.heldBytes).toBe(0);
    } finally {
      clearInterval(drip);
    }
  });

  it('refuses partial 4 MB bodies past server.bodyBudgetBytes with 503 body_budget_exceeded, holding no more than it', async () => {
    gateway = await startTestGateway({ server: { bodyLimitBytes: 4 * MiB, bodyBudgetBytes: 16 * MiB } });
    const budget = gateway.context.bodies;
    // Each client declares 4 MB, sends 3 MB of it and waits.
    const partial = Buffer.concat([Buffer.from(postHead(4 * MiB)), Buffer.alloc(3 * MiB, 0x20)]);
    const held: RawConnection[] = [];
    for (let index = 0; index < 5; index++) {
      held.push(await open(partial));
      await vi.waitFor(() => expect(budget.heldBytes).toBe((index + 1) * 3 * MiB));
    }
    const refused = await Promise.all(Array.from({ length: 20 }, () => open(partial)));
    for (const connection of refused) {
      const answer = await connection.answer;
      expect(answer.status).toBe(503);
      expect(errorOf(answer.body).code).toBe('body_budget_exceeded');
      expect(answer.head.toLowerCase()).toContain('retry-after: 1');
      expect(budget.heldBytes).toBeLessThanOrEqual(budget.limitBytes);
      await connection.closed;
    }
    // What the refused ones had received is given back; the five that fit keep theirs.
    await vi.waitFor(() => expect(budget.heldBytes).toBe(15 * MiB));
    for (const connection of held) connection.socket.destroy();
    await vi.waitFor(() => expect(budget.heldBytes).toBe(0));
  });

  it('holds chunked bodies as they arrive and refuses the one that would pass the budget', async () => {
    gateway = await startTestGateway({ server: { bodyLimitBytes: 4 * MiB, bodyBudgetBytes: 8 * MiB } });
    const budget = gateway.context.bodies;
    const part = chunk(Buffer.alloc(3 * MiB, 0x20));
    const first = await open(Buffer.concat([Buffer.from(postHead('chunked')), part]));
    await vi.waitFor(() => expect(budget.heldBytes).toBe(3 * MiB));
    const second = await open(Buffer.concat([Buffer.from(postHead('chunked')), part]));
    await vi.waitFor(() => expect(budget.heldBytes).toBe(6 * MiB));
    const third = await open(Buffer.concat([Buffer.from(postHead('chunked')), part]));
    const answer = await third.answer;
    expect(answer.status).toBe(503);
    expect(errorOf(answer.body).code).toBe('body_budget_exceeded');
    await third.closed;
    expect(budget.heldBytes).toBe(6 * MiB);
    // The first two still complete: what they hold is theirs.
    first.socket.write(chunk(' {"model":"sim","messages":[{"role":"user","content":"hi"}]}'));
    first.socket.write('0\r\n\r\n');
    expect((await first.answer).status).toBe(200);
    second.socket.destroy();
    await vi.waitFor(() => expect(budget.heldBytes).toBe(0));
  });

  it("refuses a key's uploads past its concurrentStreams with 429, while another key still uploads", async () => {
    gateway = await startTestGateway({
      keys: [
        { name: 'limited', key: KEY, limits: { concurrentStreams: 2 } },
        { name: 'other', key: OTHER_KEY },
      ],
    });
    const budget = gateway.context.bodies;
    const head = postHead(MiB, { Authorization: `Bearer ${KEY}` });
    await open(`${head}{"model":`);
    await open(`${head}{"model":`);
    await vi.waitFor(() => expect(budget.uploadsOf('limited')).toBe(2));
    const third = await open(`${head}{"model":`);
    const answer = await third.answer;
    expect(answer.status).toBe(429);
    expect(errorOf(answer.body).code).toBe('concurrency_limit_exceeded');
    await third.closed;
    await open(`${postHead(MiB, { Authorization: `Bearer ${OTHER_KEY}` })}{"model":`);
    await vi.waitFor(() => expect(budget.uploadsOf('other')).toBe(1));
    expect(budget.uploadsOf('limited')).toBe(2);
  });

  it('answers a bad key on the headers and closes the connection before its body is uploaded', async () => {
    gateway = await startTestGateway({ keys: [{ name: 'k', key: KEY }] });
    const connection = await open(postHead(4 * MiB, { Authorization: 'Bearer sk-wrong-key-123' }));
    const answer = await connection.answer;
    expect(answer.status).toBe(401);
    expect(errorOf(answer.body).code).toBe('invalid_api_key');
    await connection.closed;
    expect(connection.socket.bytesWritten).toBeLessThan(1024);
  });

  it('keeps the connection open after an error answered to a body-less request', async () => {
    gateway = await startTestGateway();
    const connection = await open('GET /nope/v1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const answer = await connection.answer;
    expect(answer.status).toBe(404);
    expect(answer.head.toLowerCase()).toContain('connection: keep-alive');
  });

  it('answers JSON nested 10,000 deep with 400 invalid_request, and accepts nesting up to server.jsonMaxDepth', async () => {
    gateway = await startTestGateway();
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const body = (depth: number) =>
      `{"model":"sim","messages":[{"role":"user","content":"hi"}],"metadata_extra":${nested(depth)}}`;
    const deep = await postRawBody(body(10_000));
    expect(deep.status).toBe(400);
    expect(errorOf(deep.body)).toMatchObject({
      code: 'invalid_request',
      type: 'invalid_request_error',
      param: null,
    });
    // The body object itself is one level: 127 more fit in the default 128.
    expect((await postRawBody(body(127))).status).toBe(200);
    expect((await postRawBody(body(128))).status).toBe(400);
    const embeddings = `{"model":"sim","input":"hi","x":${nested(10_000)}}`;
    const deepEmbeddings = await postRawBody(embeddings, '/v1/embeddings');
    expect([deepEmbeddings.status, errorOf(deepEmbeddings.body).code]).toEqual([400, 'invalid_request']);
  });

  it('logs a client that leaves mid-body at info (status 499), never at error', async () => {
    const lines: Array<{ level: number; msg: string; status?: number }> = [];
    const sink = new Writable({
      write(line: Buffer, _encoding, done) {
        lines.push(JSON.parse(line.toString()));
        done();
      },
    });
    const config = parseConfig({
      server: { port: 0 },
      providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 } },
      usage: { store: 'memory' },
    });
    gateway = await startGateway(config, { env: {}, logger: pino({ level: 'info' }, sink) });
    const connection = await open(`${postHead(1000)}{"model":"sim",`);
    await vi.waitFor(() => expect(gateway?.context.bodies.uploadsOf('anonymous')).toBe(1));
    connection.socket.destroy();
    await vi.waitFor(() => expect(lines.some((line) => line.msg === 'request')).toBe(true));
    expect(lines.find((line) => line.msg === 'request')).toMatchObject({ level: 30, status: 499 });
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
  });
});

async function postRawBody(body: string, path?: string): Promise<{ status: number; body: string }> {
  const head = postHead(Buffer.byteLength(body), {}, path);
  const connection = await openRaw((gateway as Gateway).port, `${head}${body}`);
  connections.push(connection);
  return connection.answer;
}

describe('postChat smoke', () => {
  it('still serves an ordinary request within the bounds', async () => {
    gateway = await startTestGateway();
    const answer = await postChat(gateway.url, { model: 'sim', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.status).toBe(200);
  });
});

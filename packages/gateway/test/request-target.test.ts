import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { rawRequest, startTestGateway } from './helpers.js';

/** Sends a request line as written (no client library normalizes it) and reads the whole answer. */
function sendRaw(port: number, head: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    socket.write(`${head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

describe('request targets a client gets wrong', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway();
  });
  afterAll(() => gateway.close());

  it.each([
    'GET //a:b HTTP/1.1',
    'GET // HTTP/1.1',
    'GET //[ HTTP/1.1',
    'GET mailto:x HTTP/1.1',
    'GET * HTTP/1.1',
  ])('answers %s with a 4xx and keeps serving (it once ended the process)', async (line) => {
    const answer = await sendRaw(gateway.port, line);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    const health = await rawRequest(`${gateway.url}/health`);
    expect(health.status).toBe(200);
  });

  it.each([
    'GET /%E0%A4%A HTTP/1.1',
    'GET /% HTTP/1.1',
    'GET /v1/streams/%ZZ HTTP/1.1',
    'DELETE /v1/streams/%E0%A4%A HTTP/1.1',
  ])('answers %s with 400 in OpenAI shape and keeps serving', async (line) => {
    const answer = await sendRaw(gateway.port, line);
    expect(answer.status).toBe(400);
    const body = JSON.parse(answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4)) as {
      error: { type: string; code: string };
    };
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request' });
    const health = await rawRequest(`${gateway.url}/health`);
    expect(health.status).toBe(200);
  });

  it('reads a path that starts with // as a path on this server, not as a host', async () => {
    const answer = await sendRaw(gateway.port, 'GET //health HTTP/1.1');
    expect(answer.status).toBe(404);
  });

  it('serves an absolute-form target as proxies send it', async () => {
    const answer = await sendRaw(gateway.port, 'GET http://elsewhere.example/health HTTP/1.1');
    expect(answer.status).toBe(200);
  });

  it('counts requests by route, with ids folded and unmatched paths grouped', async () => {
    await rawRequest(`${gateway.url}/v1/streams/str_AAAAAAAAAAAAAAAAAAAA`);
    await rawRequest(`${gateway.url}/v1/nothing-here`);
    const metrics = await rawRequest(`${gateway.url}/metrics`);
    expect(metrics.body).toMatch(/route="\/v1\/streams\/\{id\}",status="404"/);
    expect(metrics.body).toMatch(/route="unknown",status="404"/);
    expect(metrics.body).not.toMatch(/str_AAAAAAAAAAAAAAAAAAAA/);
  });
});

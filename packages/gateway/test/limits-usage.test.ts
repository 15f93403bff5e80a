import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisServer, startRedisServer } from '@spool/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway, GatewayConfigInput } from '../src/index.js';
import { openResponse, parseSse, postChat, rawRequest, startTestGateway } from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Count my tokens.' }];
const KEY = 'sk-limited-key-0001';
const auth = { authorization: `Bearer ${KEY}` };

function withLimits(
  limits: NonNullable<NonNullable<GatewayConfigInput['keys']>[number]['limits']>,
  extra: Partial<GatewayConfigInput> = {},
) {
  return startTestGateway({ keys: [{ name: 'team', key: KEY, limits }], ...extra });
}

/** Starts a stream and resolves once its headers are in, with a promise of the rest of its body. */
function openStream(url: string, headers: Record<string, string>) {
  return openResponse(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'sim', messages, stream: true }),
  });
}

describe('per-key rate limits', () => {
  it('admits requestsPerMinute requests with OpenAI headers, then answers 429 with Retry-After', async () => {
    const gateway = await withLimits({ requestsPerMinute: 3 });
    try {
      const remaining: string[] = [];
      for (let index = 0; index < 3; index++) {
        const response = await postChat(gateway.url, { model: 'sim', messages }, auth);
        expect(response.status).toBe(200);
        expect(response.headers['x-ratelimit-limit-requests']).toBe('3');
        remaining.push(String(response.headers['x-ratelimit-remaining-requests']));
      }
      expect(remaining).toEqual(['2', '1', '0']);
      const refused = await postChat(gateway.url, { model: 'sim', messages, stream: true }, auth);
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body).error.code).toBe('rate_limit_exceeded');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect(refused.headers['x-ratelimit-reset-requests']).toMatch(
        /^\d+(\.\d+)?(ms|s|m\d+s)$|^\d+m\d+(\.\d+)?s$/,
      );
    } finally {
      await gateway.close();
    }
  });

  it('reserves an estimate of tokens and reconciles it to the real usage when the stream ends', async () => {
    const gateway = await withLimits({ tokensPerMinute: 100_000 });
    try {
      const first = await postChat(
        gateway.url,
        { model: 'sim', messages, stream: true, stream_options: { include_usage: true } },
        auth,
      );
      const usage = JSON.parse(parseSse(first.body).at(-2)?.data ?? '{}').usage;
      const reservedFirst = 100_000 - Number(first.headers['x-ratelimit-remaining-tokens']);
      expect(reservedFirst).toBeGreaterThan(usage.total_tokens);
      const second = await postChat(gateway.url, { model: 'sim', messages }, auth);
      const reservedSecond =
        100_000 - usage.total_tokens - Number(second.headers['x-ratelimit-remaining-tokens']);
      // After the first settled, only its true usage stays charged; the second reserves the same estimate.
      expect(reservedSecond).toBe(reservedFirst);
    } finally {
      await gateway.close();
    }
  });

  it('holds a concurrency slot for the whole generation and frees it at the end', async () => {
    const gateway = await withLimits({ concurrentStreams: 1 });
    try {
      const held = await openStream(gateway.url, { ...auth, 'x-spool-fault': 'stall-after=3;stall-ms=300' });
      expect(held.status).toBe(200);
      const refused = await postChat(gateway.url, { model: 'sim', messages }, auth);
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body).error.code).toBe('concurrency_limit_exceeded');
      expect(parseSse(await held.rest).at(-1)?.data).toBe('[DONE]');
      expect((await postChat(gateway.url, { model: 'sim', messages }, auth)).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('never rate limits a retried POST that attaches to its generation with the same Idempotency-Key', async () => {
    const gateway = await withLimits({ requestsPerMinute: 1 });
    try {
      const headers = { ...auth, 'idempotency-key': 'resume-me' };
      const first = await postChat(gateway.url, { model: 'sim', messages, stream: true }, headers);
      const retried = await postChat(
        gateway.url,
        { model: 'sim', messages, stream: true },
        { ...headers, 'last-event-id': '3' },
      );
      expect(retried.status).toBe(200);
      expect(retried.headers['x-stream-id']).toBe(first.headers['x-stream-id']);
      expect((await postChat(gateway.url, { model: 'sim', messages, stream: true }, auth)).status).toBe(429);
    } finally {
      await gateway.close();
    }
  });
});

describe('limits shared through Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.stop());

  const shared = (prefix: string, failMode: 'closed' | 'open' = 'closed'): Partial<GatewayConfigInput> => ({
    limits: { store: 'redis', redisUrl: redis.url, keyPrefix: prefix, failMode },
  });

  it('makes two instances enforce one limit: exactly the limit is admitted across both', async () => {
    const prefix = `rl${Date.now()}:`;
    const [a, b] = await Promise.all([
      withLimits({ requestsPerMinute: 10 }, shared(prefix)),
      withLimits({ requestsPerMinute: 10 }, shared(prefix)),
    ]);
    try {
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, index) =>
          postChat((index % 2 === 0 ? a : b).url, { model: 'sim', messages }, auth),
        ),
      );
      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(10);
      expect(statuses.filter((status) => status === 429)).toHaveLength(20);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('fails closed with 503 when Redis dies, or open when configured so', async () => {
    const own = await startRedisServer();
    const config = (failMode: 'closed' | 'open') => ({
      limits: { store: 'redis' as const, redisUrl: own.url, failMode },
    });
    const [closed, open]: [Gateway, Gateway] = await Promise.all([
      withLimits({ requestsPerMinute: 100 }, config('closed')),
      withLimits({ requestsPerMinute: 100 }, config('open')),
    ]);
    try {
      expect((await postChat(closed.url, { model: 'sim', messages }, auth)).status).toBe(200);
      await own.kill();
      const refused = await postChat(closed.url, { model: 'sim', messages }, auth);
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body).error.code).toBe('store_unavailable');
      expect((await postChat(open.url, { model: 'sim', messages }, auth)).status).toBe(200);
    } finally {
      await Promise.all([closed.close(), open.close()]);
    }
  });
});

describe('usage records', () => {
  it("survive a restart and GET /v1/usage answers the caller's own totals by day and model", async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'spool-usage-')), 'usage.jsonl');
    const config: Partial<GatewayConfigInput> = {
      usage: { store: 'file', path },
      keys: [
        { name: 'team', key: KEY },
        { name: 'other', key: 'sk-other-key-00001' },
      ],
    };
    const first = await startTestGateway(config);
    const streamed = await postChat(
      first.url,
      { model: 'sim', messages, stream: true, stream_options: { include_usage: true } },
      auth,
    );
    const usage = JSON.parse(parseSse(streamed.body).at(-2)?.data ?? '{}').usage;
    await postChat(first.url, { model: 'sim-fast', messages }, auth);
    await postChat(first.url, { model: 'sim', messages }, { authorization: 'Bearer sk-other-key-00001' });
    await first.close();

    const second = await startTestGateway(config);
    try {
      const totals = JSON.parse((await rawRequest(`${second.url}/v1/usage`, { headers: auth })).body);
      const today = new Date().toISOString().slice(0, 10);
      expect(totals.object).toBe('list');
      expect(totals.data).toEqual([
        {
          day: today,
          model: 'sim',
          requests: 1,
          prompt_tokens: usage.prompt_tokens,
          completion_tokens: usage.completion_tokens,
          total_tokens: usage.total_tokens,
        },
        expect.objectContaining({ day: today, model: 'sim-fast', requests: 1 }),
      ]);
      const bad = await rawRequest(`${second.url}/v1/usage?from=yesterday`, { headers: auth });
      expect(bad.status).toBe(400);
    } finally {
      await second.close();
    }
  });
});

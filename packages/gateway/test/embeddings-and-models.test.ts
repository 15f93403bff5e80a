import fc from 'fast-check';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, type SimServer, startSimServer } from '../src/index.js';
import { postChat, rawRequest, startTestGateway } from './helpers.js';

const KEY = 'sk-spool-embeddings-key';
const LIMITED = 'sk-spool-embeddings-limited';

function norm(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let index = 0; index < vector.length; index++) sum += (vector[index] as number) ** 2;
  return Math.sqrt(sum);
}

describe('POST /v1/embeddings and GET /v1/models/{id} with the official openai SDK', () => {
  let gateway: Gateway;
  let remoteSim: SimServer;
  let openai: OpenAI;

  beforeAll(async () => {
    remoteSim = await startSimServer({ port: 0 });
    gateway = await startTestGateway({
      keys: [
        { name: 'team', key: KEY },
        { name: 'limited', key: LIMITED, models: ['sim*'], limits: { requestsPerMinute: 1 } },
      ],
      providers: {
        sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 },
        remote: { type: 'openai', baseURL: remoteSim.baseURL },
        claude: { type: 'anthropic', baseURL: 'http://127.0.0.1:1', apiKey: 'unused' },
      },
      models: [
        { match: 'sim*', provider: 'sim' },
        { match: 'remote-embed', provider: 'remote', upstreamModel: 'sim' },
        { match: 'claude-*', provider: 'claude' },
      ],
    });
    openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await gateway?.close();
    await remoteSim?.close();
  });

  it('answers embeddings.create (the SDK asks for base64) with deterministic unit vectors and usage', async () => {
    const first = await openai.embeddings.create({ model: 'sim', input: 'The quick brown fox' });
    expect(first.object).toBe('list');
    expect(first.model).toBe('sim');
    expect(first.data).toHaveLength(1);
    const vector = first.data[0]?.embedding ?? [];
    expect(vector).toHaveLength(1536);
    expect(norm(vector)).toBeCloseTo(1, 4);
    expect(first.usage).toEqual({ prompt_tokens: 5, total_tokens: 5 });
    const again = await openai.embeddings.create({ model: 'sim', input: 'The quick brown fox' });
    expect(again.data[0]?.embedding).toEqual(vector);
    const other = await openai.embeddings.create({ model: 'sim', input: 'A lazy dog' });
    expect(other.data[0]?.embedding).not.toEqual(vector);
  });

  it('answers several inputs in order, as floats when asked, with the dimensions asked for', async () => {
    const response = await openai.embeddings.create({
      model: 'sim',
      input: ['one', 'two', 'three'],
      encoding_format: 'float',
      dimensions: 8,
    });
    expect(response.data.map((entry) => [entry.object, entry.index, entry.embedding.length])).toEqual([
      ['embedding', 0, 8],
      ['embedding', 1, 8],
      ['embedding', 2, 8],
    ]);
    // base64 and float carry the same float32 values.
    const base64 = await openai.embeddings.create({ model: 'sim', input: 'two', dimensions: 8 });
    expect(Array.from(base64.data[0]?.embedding ?? [])).toEqual(response.data[1]?.embedding);
  });

  it('relays embeddings to an OpenAI-compatible upstream under its upstream model name', async () => {
    const before = remoteSim.stats.embeddings;
    const relayed = await openai.embeddings.create({ model: 'remote-embed', input: [[1, 2, 3]] });
    const direct = await openai.embeddings.create({ model: 'sim', input: [[1, 2, 3]] });
    expect(remoteSim.stats.embeddings).toBe(before + 1);
    expect(relayed.data[0]?.embedding).toEqual(direct.data[0]?.embedding);
    expect(relayed.usage.prompt_tokens).toBe(3);
    // The standalone sim is an OpenAI-compatible upstream for both routes too.
    const direct404 = await fetch(`${remoteSim.baseURL}/models/not-a-sim-model`);
    expect(direct404.status).toBe(404);
    expect(await (await fetch(`${remoteSim.baseURL}/models/sim-slow`)).json()).toMatchObject({
      id: 'sim-slow',
    });
  });

  it('records embeddings usage in the ledger and applies the key’s limits and model list', async () => {
    const limited = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: LIMITED, maxRetries: 0 });
    await limited.embeddings.create({ model: 'sim', input: 'count me' });
    const refused = await limited.embeddings.create({ model: 'sim', input: 'again' }).catch((error) => error);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('1');
    const forbidden = await limited.embeddings
      .create({ model: 'remote-embed', input: 'x' })
      .catch((error) => error);
    expect(forbidden).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const totals = await gateway.context.ledger.totals({ keyId: 'limited' });
    expect(totals).toEqual([expect.objectContaining({ model: 'sim', requests: 2, promptTokens: 2 })]);
  });

  it('refuses a malformed body with 400 naming the param, and a model whose upstream has no embeddings', async () => {
    const bad = await openai.embeddings
      .create({ model: 'sim', input: [] as string[] })
      .catch((error) => error);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.param).toBe('input');
    const anthropic = await openai.embeddings
      .create({ model: 'claude-x', input: 'hi' })
      .catch((error) => error);
    expect(anthropic).toBeInstanceOf(OpenAI.BadRequestError);
    expect(anthropic.message).toMatch(/no embeddings/);
    const unknown = await openai.embeddings
      .create({ model: 'nothing-routes-here', input: 'hi' })
      .catch((e) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    const get = await rawRequest(`${gateway.url}/v1/embeddings`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect([get.status, get.headers.allow]).toEqual([405, 'POST']);
  });

  it('answers models.retrieve with the model as /v1/models lists it, and 404 for others', async () => {
    const model = await openai.models.retrieve('sim-fast');
    expect(model).toEqual({ id: 'sim-fast', object: 'model', created: 0, owned_by: 'spool-sim' });
    const listed = await openai.models.list();
    for (const entry of listed.data) expect(await openai.models.retrieve(entry.id)).toEqual(entry);
    const missing = await openai.models.retrieve('gpt-nonexistent').catch((error) => error);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.code).toBe('model_not_found');
    const limited = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: LIMITED, maxRetries: 0 });
    expect(await limited.models.retrieve('remote-embed').catch((error) => error)).toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    const malformed = await rawRequest(`${gateway.url}/v1/models/%E0%A4%A`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(malformed.status).toBe(400);
  });

  it('answers any model id path with 200, 400 or 404, never a 500', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 40 }).map(encodeURIComponent),
          fc.stringMatching(/^[A-Za-z0-9%/._~-]{1,40}$/),
        ),
        async (id) => {
          const response = await rawRequest(`${gateway.url}/v1/models/${id}`, { headers: auth });
          expect([200, 400, 404]).toContain(response.status);
          expect(JSON.parse(response.body)).toBeTypeOf('object');
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps chat completions working beside the new routes', async () => {
    const response = await postChat(
      gateway.url,
      { model: 'sim', messages: [{ role: 'user', content: 'hi' }] },
      {
        authorization: `Bearer ${KEY}`,
      },
    );
    expect(response.status).toBe(200);
  });
});

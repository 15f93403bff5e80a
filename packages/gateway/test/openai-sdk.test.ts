import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import { startTestGateway } from './helpers.js';

const messages = [{ role: 'user' as const, content: 'Explain resumable streams in one paragraph.' }];

describe('the official openai SDK against the gateway', () => {
  let gateway: Gateway;
  let openai: OpenAI;

  beforeAll(async () => {
    gateway = await startTestGateway({
      keys: [{ name: 'team-a', key: 'sk-spool-test-key-a' }],
      models: [
        { match: 'sim*', provider: 'sim' },
        { match: 'gpt-4o-mini', provider: 'sim' },
      ],
    });
    openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-spool-test-key-a', maxRetries: 0 });
  });
  afterAll(() => gateway.close());

  it('streams a completion whose text is the sim text, with usage when asked', async () => {
    const stream = await openai.chat.completions.create({
      model: 'sim',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finishReason: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(simText({ model: 'sim', messages }));
    expect(finishReason).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
  });

  it('exposes X-Stream-Id on the raw streamed response', async () => {
    const { response } = await openai.chat.completions
      .create({ model: 'sim', messages, stream: true })
      .withResponse();
    expect(response.headers.get('x-stream-id')).toMatch(/^str_[A-Za-z0-9_-]{24}$/);
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    await response.body?.cancel();
  });

  it('returns a non-streamed completion with the same deterministic text', async () => {
    const completion = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, seed: 7 });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toBe(simText({ model: 'gpt-4o-mini', messages, seed: 7 }));
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('lists the configured models', async () => {
    const models = await openai.models.list();
    const ids = models.data.map((model) => model.id);
    expect(ids).toContain('gpt-4o-mini');
    expect(ids).toContain('sim');
  });

  it('maps a wrong key to AuthenticationError (401)', async () => {
    const wrong = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    const error = await wrong.chat.completions
      .create({ model: 'sim', messages })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
  });

  it('maps an unknown model to NotFoundError (404 model_not_found)', async () => {
    const error = await openai.chat.completions
      .create({ model: 'no-such-model', messages })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
  });

  it('maps an upstream 429 before the first byte to RateLimitError with Retry-After', async () => {
    const error = await openai.chat.completions
      .create(
        { model: 'sim', messages, stream: true },
        { headers: { 'x-spool-fault': 'status=429;retry-after=3' } },
      )
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')).toBe('3');
  });

  it('maps an upstream 500 to InternalServerError', async () => {
    const error = await openai.chat.completions
      .create({ model: 'sim', messages }, { headers: { 'x-spool-fault': 'status=500' } })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect((error as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(500);
  });

  it('surfaces a mid-stream upstream failure as an APIError from the stream, not a silent end', async () => {
    const stream = await openai.chat.completions.create(
      { model: 'sim', messages, stream: true },
      { headers: { 'x-spool-fault': 'drop-after=4' } },
    );
    let text = '';
    const consume = async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    };
    await expect(consume()).rejects.toBeInstanceOf(OpenAI.APIError);
    expect(simText({ model: 'sim', messages }).startsWith(text)).toBe(true);
    expect(text.length).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import { estimatePromptTokens, estimateRequestTokens } from './estimate-tokens.js';

describe('estimateRequestTokens', () => {
  it('counts prompt characters / 4 plus max_tokens', () => {
    expect(
      estimateRequestTokens({ messages: [{ role: 'user', content: 'hello world!' }], max_tokens: 10 }),
    ).toBe(13);
  });

  it('falls back to max_completion_tokens, then to 1024, and caps the reservation at 4096', () => {
    const messages = [{ role: 'user', content: 'abcd' }];
    expect(estimateRequestTokens({ messages, max_completion_tokens: 7 })).toBe(8);
    expect(estimateRequestTokens({ messages })).toBe(1025);
    expect(estimateRequestTokens({ messages, max_tokens: 1_000_000 })).toBe(4097);
  });

  it('counts text parts of array content and ignores images and junk', () => {
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: '12345678' },
            { type: 'image_url', image_url: {} },
          ],
        },
        null,
        { role: 'assistant' },
      ],
      max_tokens: 1,
    };
    expect(estimateRequestTokens(body)).toBe(3);
    expect(estimateRequestTokens('not an object', { defaultCompletionTokens: 5 })).toBe(5);
  });
});

describe('estimatePromptTokens', () => {
  it('counts the prompt alone, as the reservation does, rounding up', () => {
    const body = {
      messages: [
        { role: 'user', content: 'hello world!' },
        { role: 'assistant', content: 'a' },
      ],
    };
    expect(estimatePromptTokens(body)).toBe(4);
    expect(estimateRequestTokens({ ...body, max_tokens: 10 })).toBe(estimatePromptTokens(body) + 10);
    expect(estimatePromptTokens({ messages: [], prompt: 'abcdefgh' })).toBe(2);
    expect(estimatePromptTokens(undefined)).toBe(0);
  });
});

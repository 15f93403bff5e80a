import { describe, expect, it } from 'vitest';
import { defaultOpenAIApis, OpenAIProvider } from './openai-provider.js';
import { speaksNatively } from './provider.js';

describe('the APIs an OpenAI-compatible provider speaks', () => {
  it('defaults to chat and responses for OpenAI and Azure OpenAI, to chat alone for other compatible servers', () => {
    expect(defaultOpenAIApis('https://api.openai.com/v1')).toEqual(['chat', 'responses']);
    expect(defaultOpenAIApis('https://example.openai.azure.com/openai/v1')).toEqual(['chat', 'responses']);
    expect(defaultOpenAIApis('http://127.0.0.1:11434/v1')).toEqual(['chat']);
    expect(defaultOpenAIApis('https://api.openai.com.evil.example/v1')).toEqual(['chat']);
  });

  it('passes a surface through natively only when the provider declares it', async () => {
    const chatOnly = new OpenAIProvider({ name: 'local', baseURL: 'http://127.0.0.1:9/v1' });
    const both = new OpenAIProvider({
      name: 'openai',
      baseURL: 'http://127.0.0.1:9/v1',
      apis: ['chat', 'responses'],
    });
    try {
      expect(speaksNatively(chatOnly, 'responses')).toBe(false);
      expect(speaksNatively(both, 'responses')).toBe(true);
      expect(speaksNatively(both, 'messages')).toBe(false);
    } finally {
      await Promise.all([chatOnly.close(), both.close()]);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { describeFailure, type NetworkFacts } from '../src/status-cause.js';

const facts: NetworkFacts = { online: true, corsBlocked: false, answerStarted: false };
const body = (code: string, provider?: string) => ({
  error: { message: 'x', type: 't', code, param: null, provider },
});

describe('describeFailure', () => {
  it("tells the gateway's rate limit from the provider's, keeping the code as detail", () => {
    expect(
      describeFailure({ code: 'rate_limit_exceeded', status: 429, body: body('rate_limit_exceeded') }, facts),
    ).toEqual({
      text: 'Rate limited by the gateway',
      detail: 'rate_limit_exceeded, HTTP 429',
    });
    expect(
      describeFailure(
        { code: 'rate_limit_exceeded', status: 429, body: body('rate_limit_exceeded', 'openai') },
        facts,
      ).text,
    ).toBe("Rate limited by the model's provider (openai)");
  });

  it('names a network error by what the page knows: offline, CORS, a drop, or an unreachable gateway', () => {
    const failure = { code: 'network_error' };
    expect(describeFailure(failure, { ...facts, online: false }).text).toBe('Offline');
    expect(describeFailure(failure, { ...facts, corsBlocked: true }).text).toMatch(/^Blocked by CORS/);
    expect(describeFailure(failure, { ...facts, answerStarted: true }).text).toBe('The connection dropped');
    expect(describeFailure(failure, facts)).toEqual({
      text: 'The gateway is unreachable',
      detail: 'network_error',
    });
  });

  it("says the model's server is unreachable for upstream_unreachable", () => {
    const failure = {
      code: 'upstream_unreachable',
      status: 502,
      body: body('upstream_unreachable', 'ollama'),
    };
    expect(describeFailure(failure, facts)).toEqual({
      text: "The model's server is unreachable",
      detail: 'upstream_unreachable, HTTP 502',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { emitSimEvents, simChunks } from './sim-response.js';
import { simText, simTokens } from './sim-text.js';

const ask = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'sim',
  messages: [{ role: 'user' as const, content }],
  ...extra,
});

describe('sim text', () => {
  it('is the same for the same messages and seed, and differs for another prompt or seed', () => {
    expect(simText(ask('hello'))).toBe(simText(ask('hello')));
    expect(simText(ask('hello'))).not.toBe(simText(ask('goodbye')));
    expect(simText(ask('hello', { seed: 1 }))).not.toBe(simText(ask('hello', { seed: 2 })));
  });

  it('reads as sentences that quote the question', () => {
    const text = simText(ask('How do resumable streams work?'));
    expect(text).toContain('You asked: "How do resumable streams work?".');
    expect(text).toMatch(/^[A-Z][\s\S]*\.$/);
  });

  it('stops at max_tokens with finish_reason length', () => {
    const { tokens, finishReason } = simTokens({ ...ask('hi'), max_tokens: 4 });
    expect(tokens).toHaveLength(4);
    expect(finishReason).toBe('length');
  });

  it('streams a role chunk, one chunk per token, a finish chunk, usage when asked, then [DONE]', () => {
    const request = { ...ask('hi'), stream: true, stream_options: { include_usage: true } };
    const events = simChunks(request);
    const tokens = simTokens(request).tokens;
    expect(events).toHaveLength(tokens.length + 4);
    expect(JSON.parse(events[0] as string).choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(JSON.parse(events.at(-3) as string).choices[0].finish_reason).toBe('stop');
    expect(JSON.parse(events.at(-2) as string).usage.completion_tokens).toBe(tokens.length);
    expect(events.at(-1)).toBe('[DONE]');
  });
});

/** When each event of a request's answer arrives, on a fake clock, at 100 ms TTFT and 10 tokens/s. */
async function arrivals(request: Parameters<typeof simChunks>[0]): Promise<number[]> {
  let time = 0;
  const clock = {
    now: () => time,
    sleep: async (ms: number) => {
      time += ms;
    },
  };
  const times: number[] = [];
  const pace = { ttftMs: 100, tokensPerSecond: 10 };
  for await (const _event of emitSimEvents(
    simChunks(request),
    pace,
    {},
    new AbortController().signal,
    clock,
  )) {
    times.push(time);
  }
  return times;
}

describe('sim pacing', () => {
  it('paces tokens, then sends the finish chunk, usage and [DONE] right after the last token', async () => {
    const request = {
      ...ask('pace me', { max_tokens: 3 }),
      stream: true,
      stream_options: { include_usage: true },
    };
    // The role chunk at the TTFT, three tokens 100 ms apart, then finish + usage + [DONE] at once.
    expect(await arrivals(request)).toEqual([100, 200, 300, 400, 400, 400, 400]);
  });

  it('paces the rounds of an n-choice answer, each choice at the requested tokens per second', async () => {
    const request = { ...ask('two at once', { max_tokens: 2, n: 2 }), stream: true };
    // Both role chunks at the TTFT, each round of two tokens 100 ms later, then both finishes and [DONE].
    expect(await arrivals(request)).toEqual([100, 100, 200, 200, 300, 300, 300, 300, 300]);
  });
});

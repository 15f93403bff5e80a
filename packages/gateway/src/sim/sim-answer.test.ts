import type { ChatCompletionChunk, ChatCompletionRequest, ChatMessage } from '@spool/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../errors.js';
import { simAnswer } from './sim-answer.js';
import { simChunks, simCompletion } from './sim-response.js';
import { simText } from './sim-text.js';

const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer', minimum: 1, maximum: 7 },
      },
      required: ['city', 'unit', 'days'],
      additionalProperties: false,
    },
  },
};
const search = {
  type: 'function',
  function: {
    name: 'search_docs',
    parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
  },
};

function request(content: string, extra: Record<string, unknown> = {}): ChatCompletionRequest {
  return { model: 'sim', messages: [{ role: 'user', content }], ...extra };
}

function calledNames(body: ChatCompletionRequest): string[] {
  const choice = simAnswer(body).choices[0];
  return choice?.kind === 'tool_calls' ? choice.calls.map((call) => call.name) : [];
}

/** What an OpenAI client assembles from a stream: per choice, the text and the tool calls. */
function assemble(events: readonly string[]) {
  const choices = new Map<
    number,
    {
      text: string;
      calls: Array<{ id?: string; name: string; arguments: string }>;
      finish: string | null;
      logprobs: unknown[];
    }
  >();
  for (const event of events.slice(0, -1)) {
    const chunk = JSON.parse(event) as ChatCompletionChunk;
    for (const choice of chunk.choices) {
      const state = choices.get(choice.index) ?? { text: '', calls: [], finish: null, logprobs: [] };
      choices.set(choice.index, state);
      state.text += choice.delta.content ?? '';
      for (const delta of choice.delta.tool_calls ?? []) {
        const call = state.calls[delta.index] ?? { name: '', arguments: '' };
        state.calls[delta.index] = call;
        if (delta.id) call.id = delta.id;
        call.name += delta.function?.name ?? '';
        call.arguments += delta.function?.arguments ?? '';
      }
      const logprobs = choice.logprobs as { content?: unknown[] } | null | undefined;
      state.logprobs.push(...(logprobs?.content ?? []));
      state.finish = choice.finish_reason ?? state.finish;
    }
  }
  return choices;
}

describe('which tools the sim calls', () => {
  it('calls the first tool when tool_choice is "required" and the message names none', () => {
    expect(calledNames(request('What now?', { tools: [weather, search], tool_choice: 'required' }))).toEqual([
      'get_weather',
    ]);
  });

  it('calls every tool the last user message names, or one with parallel_tool_calls false', () => {
    const both = request('Use search_docs, then get_weather.', {
      tools: [weather, search],
      tool_choice: 'required',
    });
    expect(calledNames(both)).toEqual(['get_weather', 'search_docs']);
    expect(calledNames({ ...both, parallel_tool_calls: false })).toEqual(['get_weather']);
    expect(calledNames({ ...both, tool_choice: 'auto' })).toEqual(['get_weather', 'search_docs']);
  });

  it('calls the function tool_choice names, whatever the message says', () => {
    const named = { type: 'function', function: { name: 'search_docs' } };
    expect(
      calledNames(request('Use get_weather.', { tools: [weather, search], tool_choice: named })),
    ).toEqual(['search_docs']);
  });

  it('answers "auto" with text unless the user names a tool as a whole word, case-sensitively', () => {
    const tools = [weather, search];
    expect(calledNames(request('What is the weather in Paris?', { tools }))).toEqual([]);
    expect(calledNames(request('Call Get_Weather or get_weathers or xget_weather', { tools }))).toEqual([]);
    expect(calledNames(request('Call `get_weather`.', { tools }))).toEqual(['get_weather']);
    expect(calledNames(request('Use get_weather.', { tools, tool_choice: 'none' }))).toEqual([]);
    const reminder = '<system-reminder>Use the get_weather tool when useful.</system-reminder>';
    expect(calledNames(request(`${reminder} Say hello.`, { tools }))).toEqual([]);
    expect(calledNames(request(`${reminder} Say hello with get_weather.`, { tools }))).toEqual([
      'get_weather',
    ]);
  });

  it('answers a tool result with text that quotes it, under "auto"', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Use get_weather for Paris.' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21, "sky": "clear"}' },
    ];
    const body = { model: 'sim', messages, tools: [weather] };
    const answer = simAnswer(body).choices[0];
    expect(answer?.kind).toBe('text');
    expect(simText(body)).toContain('The tool returned: "{"temperature": 21, "sky": "clear"}".');
    expect(simCompletion(body).choices[0]?.message.content).toBe(simText(body));
  });
});

describe('a tool call as the sim writes it', () => {
  const body = request('Use get_weather and search_docs.', {
    tools: [weather, search],
    tool_choice: 'required',
    stream: true,
  });

  it('streams id and name on the first delta of each call, then the arguments in several pieces', () => {
    const events = simChunks(body);
    const first = JSON.parse(events[0] as string) as ChatCompletionChunk;
    expect(first.choices[0]?.delta).toMatchObject({
      role: 'assistant',
      content: null,
      tool_calls: [{ index: 0, type: 'function', function: { name: 'get_weather', arguments: '' } }],
    });
    const pieces = events.filter((event) => event.includes('"arguments":"') && !event.includes('"name"'));
    expect(pieces.length).toBeGreaterThan(4);
    const [choice] = assemble(events).values();
    expect(choice?.finish).toBe('tool_calls');
    expect(choice?.text).toBe('');
    expect(choice?.calls.map((call) => call.name)).toEqual(['get_weather', 'search_docs']);
    const args = JSON.parse(choice?.calls[0]?.arguments ?? '');
    expect(Object.keys(args).sort()).toEqual(['city', 'days', 'unit']);
    expect(['celsius', 'fahrenheit']).toContain(args.unit);
    expect(args.days).toBeGreaterThanOrEqual(1);
    expect(args.days).toBeLessThanOrEqual(7);
    expect(Number.isInteger(args.days)).toBe(true);
    expect(JSON.parse(choice?.calls[1]?.arguments ?? '')).toHaveProperty('query');
  });

  it('answers the same call ids and arguments streamed and not, request after request', () => {
    const streamed = [...assemble(simChunks(body)).values()][0]?.calls;
    const whole = simCompletion({ ...body, stream: false }).choices[0];
    expect(whole?.finish_reason).toBe('tool_calls');
    expect(whole?.message.content).toBeNull();
    expect(
      whole?.message.tool_calls?.map((call) => ({
        id: call.id,
        name: call.function.name,
        arguments: call.function.arguments,
      })),
    ).toEqual(streamed);
    expect([...assemble(simChunks(body)).values()][0]?.calls).toEqual(streamed);
    expect(streamed?.[0]?.id).toMatch(/^call_[a-z0-9]{24}$/);
  });
});

describe('n choices', () => {
  it('streams n interleaved choices, choice 0 the plain answer, usage counting all', () => {
    const body = request('Two takes, please.', {
      n: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    const events = simChunks(body);
    // Each choice's role chunk first, in index order, then one chunk per choice in turn.
    expect(events.slice(0, 4).map((event) => JSON.parse(event).choices[0].index)).toEqual([0, 1, 2, 0]);
    const choices = assemble(events);
    expect([...choices.keys()]).toEqual([0, 1, 2]);
    expect(choices.get(0)?.text).toBe(simText(body));
    expect(new Set([...choices.values()].map((choice) => choice.text)).size).toBe(3);
    expect([...choices.values()].every((choice) => choice.finish === 'stop')).toBe(true);
    const words = [...choices.values()].reduce((sum, choice) => sum + choice.text.split(' ').length, 0);
    expect(JSON.parse(events.at(-2) as string).usage.completion_tokens).toBe(words);
    const whole = simCompletion({ ...body, stream: false, stream_options: null });
    expect(whole.choices.map((choice) => choice.message.content)).toEqual(
      [...choices.values()].map((choice) => choice.text),
    );
    expect(whole.usage?.completion_tokens).toBe(words);
  });

  it('keeps a plain n=1 stream as it was: no logprobs field, one role chunk, tokens, finish', () => {
    const events = simChunks(request('hi', { stream: true }));
    expect(JSON.parse(events[1] as string).choices[0]).toEqual({
      index: 0,
      delta: { content: expect.any(String) },
      finish_reason: null,
    });
  });
});

describe('JSON mode', () => {
  it('answers json_object with a JSON object, and refuses it when the messages never say "json"', () => {
    const body = request('Answer in JSON.', { response_format: { type: 'json_object' }, stream: true });
    const text = assemble(simChunks(body)).get(0)?.text ?? '';
    expect(JSON.parse(text)).toEqual({ answer: expect.any(String) });
    expect(JSON.parse(simCompletion(body).choices[0]?.message.content ?? '')).toEqual(JSON.parse(text));
    expect(() => simAnswer(request('Answer.', { response_format: { type: 'json_object' } }))).toThrow(/json/);
  });

  it('answers json_schema with JSON matching the schema, streamed in pieces, cut by max_tokens', () => {
    const schema = {
      type: 'object',
      properties: { steps: { type: 'array', items: { type: 'string' }, minItems: 2 } },
      required: ['steps'],
    };
    const body = request('Plan it.', {
      response_format: { type: 'json_schema', json_schema: { name: 'plan', schema } },
      stream: true,
    });
    const events = simChunks(body);
    expect(events.length).toBeGreaterThan(8);
    const parsed = JSON.parse(assemble(events).get(0)?.text ?? '');
    expect(parsed.steps.length).toBeGreaterThanOrEqual(2);
    const cut = simCompletion({ ...body, stream: false, max_tokens: 3 }).choices[0];
    expect(cut?.finish_reason).toBe('length');
    expect(() => JSON.parse(cut?.message.content ?? '')).toThrow();
  });
});

describe('logprobs', () => {
  it('gives every content token an entry with top_logprobs alternatives, in chunks and whole', () => {
    const body = request('Probabilities?', { logprobs: true, top_logprobs: 3, stream: true });
    const choice = assemble(simChunks(body)).get(0);
    const entries = choice?.logprobs as Array<{
      token: string;
      logprob: number;
      bytes: number[];
      top_logprobs: Array<{ token: string; logprob: number }>;
    }>;
    expect(entries.map((entry) => entry.token).join('')).toBe(choice?.text);
    for (const entry of entries) {
      expect(entry.logprob).toBeLessThan(0);
      expect(Buffer.from(entry.bytes).toString('utf8')).toBe(entry.token);
      expect(entry.top_logprobs).toHaveLength(3);
      expect(entry.top_logprobs[0]?.token).toBe(entry.token);
      const total = entry.top_logprobs.reduce((sum, top) => sum + Math.exp(top.logprob), 0);
      expect(total).toBeLessThanOrEqual(1);
    }
    const whole = simCompletion({ ...body, stream: false }).choices[0];
    expect(whole?.logprobs).toEqual({ content: entries, refusal: null });
  });
});

describe('streamed and whole answers', () => {
  it('agree for any mix of n, tools, tool_choice, JSON mode, logprobs and max_tokens', () => {
    const named = (name: string) => ({ type: 'function', function: { name } });
    const planSchema = {
      type: 'object',
      properties: { steps: { type: 'array', items: { type: 'string' } } },
      required: ['steps'],
    };
    fc.assert(
      fc.property(
        fc.record(
          {
            n: fc.integer({ min: 1, max: 3 }),
            tools: fc.constantFrom([weather], [weather, search]),
            tool_choice: fc.constantFrom(
              'auto',
              'none',
              'required',
              named('get_weather'),
              named('search_docs'),
            ),
            parallel_tool_calls: fc.boolean(),
            response_format: fc.constantFrom(
              { type: 'text' },
              { type: 'json_object' },
              { type: 'json_schema', json_schema: { name: 'plan', schema: planSchema } },
            ),
            logprobs: fc.constant(true),
            top_logprobs: fc.integer({ min: 0, max: 5 }),
            max_tokens: fc.integer({ min: 0, max: 40 }),
            seed: fc.integer(),
          },
          { requiredKeys: ['n'] },
        ),
        fc.constantFrom('Reply in json.', 'Use get_weather, in json.', 'search_docs and get_weather, json'),
        (extra, content) => {
          const body = request(content, extra);
          const outcome = (run: () => unknown) => {
            try {
              return run();
            } catch (error) {
              return (error as UpstreamError).body.error.param;
            }
          };
          const whole = outcome(() => simCompletion(body)) as ReturnType<typeof simCompletion> | string;
          const events = outcome(() =>
            simChunks({ ...body, stream: true, stream_options: { include_usage: true } }),
          );
          if (typeof whole === 'string') {
            // Refused the same way, naming the same param.
            expect(events).toBe(whole);
            return;
          }
          const streamed = assemble(events as string[]);
          expect(whole.choices).toHaveLength(streamed.size);
          for (const choice of whole.choices) {
            const parts = streamed.get(choice.index);
            expect(parts?.finish).toBe(choice.finish_reason);
            expect(parts?.text).toBe(choice.message.content ?? '');
            const calls = (choice.message.tool_calls ?? []).map((call) => ({
              id: call.id,
              name: call.function.name,
              arguments: call.function.arguments,
            }));
            expect(parts?.calls).toEqual(calls);
            const logprobs = choice.logprobs as { content: unknown[] } | null | undefined;
            expect(parts?.logprobs).toEqual(logprobs?.content ?? []);
          }
          expect(JSON.parse((events as string[]).at(-2) as string).usage).toEqual(whole.usage);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('requests the sim refuses as OpenAI does', () => {
  it.each([
    [{ n: 0 }, 'n'],
    [{ n: 129 }, 'n'],
    [{ tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
    [{ tool_choice: 'required' }, 'tool_choice'],
    [{ tools: [{ type: 'function', function: { name: 'bad name' } }] }, 'tools[0].function.name'],
    [{ tools: {} }, 'tools'],
    [{ top_logprobs: 2 }, 'top_logprobs'],
    [{ logprobs: true, top_logprobs: 21 }, 'top_logprobs'],
    [{ response_format: { type: 'xml' } }, 'response_format.type'],
    [
      {
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'x', schema: { type: 'integer', minimum: 2, maximum: 1 } },
        },
      },
      'response_format.json_schema.schema',
    ],
    [
      {
        tools: [{ type: 'function', function: { name: 'f', parameters: { $ref: '#' } } }],
        tool_choice: 'required',
      },
      'tools[0].function.parameters',
    ],
  ])('refuses %j with a 400 naming %s', (extra, param) => {
    const error = (() => {
      try {
        simAnswer(request('hi', extra));
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).status).toBe(400);
    expect((error as UpstreamError).retryable).toBe(false);
    expect((error as UpstreamError).body.error.param).toBe(param);
  });

  it('bounds the JSON of all n choices together, so n does not multiply an answer', () => {
    const rows = { type: 'array', minItems: 300, maxItems: 300, items: { type: 'integer' } };
    const tools = [
      {
        type: 'function',
        function: { name: 'f', parameters: { type: 'object', properties: { rows }, required: ['rows'] } },
      },
    ];
    const body = request('hi', { tools, tool_choice: 'required' });
    expect(simAnswer({ ...body, n: 30 }).choices).toHaveLength(30);
    expect(() => simAnswer({ ...body, n: 40 })).toThrow(/more than 10000 JSON values/);
  });

  it('names a value it refuses without converting it to a string (an object without toString is a 400)', () => {
    expect(() => simChunks(request('hi', { n: { toString: false }, stream: true }))).toThrow(UpstreamError);
  });

  it('answers any values of its fields with an answer or a 400 naming a param, nothing else', () => {
    const anything = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined));
    fc.assert(
      fc.property(
        fc.record({
          n: fc.oneof(fc.integer({ min: -2, max: 5 }), anything),
          tools: fc.oneof(fc.constant([weather, search]), fc.array(anything, { maxLength: 3 }), anything),
          tool_choice: fc.oneof(fc.constantFrom('auto', 'none', 'required'), anything),
          parallel_tool_calls: anything,
          response_format: fc.oneof(fc.constant({ type: 'json_object' }), anything),
          logprobs: anything,
          top_logprobs: anything,
        }),
        (extra) => {
          try {
            const events = simChunks(request('json, get_weather', { ...extra, stream: true }));
            expect(events.at(-1)).toBe('[DONE]');
          } catch (error) {
            expect(error).toBeInstanceOf(UpstreamError);
            expect((error as UpstreamError).status).toBe(400);
            expect(typeof (error as UpstreamError).body.error.param).toBe('string');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

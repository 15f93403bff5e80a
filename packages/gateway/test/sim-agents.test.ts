import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Gateway, type SimServer, simText, startSimServer } from '../src/index.js';
import { startTestGateway } from './helpers.js';

const KEY = 'sk-spool-agents-0123456789';

const WeatherArgs = z.object({
  city: z.string().min(2),
  unit: z.enum(['celsius', 'fahrenheit']),
  days: z.number().int().min(1).max(7),
  alerts: z
    .array(z.object({ kind: z.string(), severity: z.number().min(0).max(1) }))
    .min(1)
    .max(3),
  note: z.string().nullable(),
});
const Plan = z.object({
  title: z.string(),
  steps: z.array(z.object({ order: z.number().int().min(1), action: z.string() })).min(2),
  done: z.boolean(),
});

/** The two ways the sim runs: inside the gateway, and as `spool sim` behind an openai provider. */
const SETUPS = ['the in-process sim provider', 'the standalone sim server (an openai upstream)'] as const;

describe.each(SETUPS)('agents against %s, through the gateway with the openai SDK', (setup) => {
  let sim: SimServer | undefined;
  let gateway: Gateway;
  let openai: OpenAI;

  beforeAll(async () => {
    const keys = [{ name: 'agents', key: KEY }];
    if (setup === 'the in-process sim provider') {
      gateway = await startTestGateway({ keys });
    } else {
      sim = await startSimServer({ port: 0 });
      gateway = await startTestGateway({
        keys,
        providers: { upstream: { type: 'openai', baseURL: sim.baseURL, apiKey: 'sk-upstream' } },
        models: [{ match: '*', provider: 'upstream' }],
      });
    }
    openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await gateway.close();
    await sim?.close();
  });

  it('calls the required tool with schema-valid arguments the stream helper assembles, then answers its result with text', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'Plan my week in Lyon.' },
    ];
    const tools = [zodFunction({ name: 'get_weather', parameters: WeatherArgs })];
    const runner = openai.chat.completions.stream({ model: 'sim', messages, tools, tool_choice: 'required' });
    let argumentDeltas = 0;
    runner.on('tool_calls.function.arguments.delta', () => argumentDeltas++);
    const final = await runner.finalChatCompletion();
    const choice = final.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(argumentDeltas).toBeGreaterThan(5);
    const call = choice?.message.tool_calls?.[0];
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.id).toMatch(/^call_/);
    expect(call.function.name).toBe('get_weather');
    // The SDK parsed the arguments with the zod schema; parsing again proves they satisfy it.
    expect(WeatherArgs.parse(call.function.parsed_arguments)).toEqual(JSON.parse(call.function.arguments));

    const result = JSON.stringify({ temperature: 21, sky: 'clear' });
    const followUp = [
      ...messages,
      {
        role: 'assistant' as const,
        content: null,
        tool_calls: [
          {
            id: call.id,
            type: 'function' as const,
            function: { name: call.function.name, arguments: call.function.arguments },
          },
        ],
      },
      { role: 'tool' as const, tool_call_id: call.id, content: result },
    ];
    const answer = await openai.chat.completions.create({ model: 'sim', messages: followUp, tools });
    expect(answer.choices[0]?.finish_reason).toBe('stop');
    expect(answer.choices[0]?.message.tool_calls ?? []).toEqual([]);
    expect(answer.choices[0]?.message.content).toContain(`The tool returned: "${result}".`);
  });

  it('runs an agent loop to its end under "auto": the SDK runner calls the named tool once, then gets text', async () => {
    const calls: z.infer<typeof WeatherArgs>[] = [];
    const runner = openai.chat.completions.runTools({
      model: 'sim',
      messages: [{ role: 'user', content: 'Check get_weather before we leave.' }],
      tools: [
        zodFunction({
          name: 'get_weather',
          parameters: WeatherArgs,
          function: (args) => {
            calls.push(args);
            return { temperature: 18 };
          },
        }),
      ],
    });
    const text = await runner.finalContent();
    expect(calls).toHaveLength(1);
    expect(text).toContain('The tool returned: "{"temperature":18}".');
    expect(runner.messages.map((message) => message.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'assistant',
    ]);
  });

  it('streams n=2 choices, each its own text, and usage for both', async () => {
    const messages = [{ role: 'user' as const, content: 'Give me two versions.' }];
    const stream = await openai.chat.completions.create({
      model: 'sim',
      messages,
      n: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    const texts = ['', ''];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) texts[choice.index] += choice.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(texts[0]).toBe(simText({ model: 'sim', messages }));
    expect(texts[1]).not.toBe(texts[0]);
    expect(usage?.completion_tokens).toBe(texts.join(' ').split(' ').length);
    const whole = await openai.chat.completions.create({ model: 'sim', messages, n: 2 });
    expect(whole.choices.map((choice) => choice.message.content)).toEqual(texts);
  });

  it('answers a json_schema response_format with JSON the SDK parses into the zod schema, streamed and not', async () => {
    const messages = [{ role: 'user' as const, content: 'Plan the release.' }];
    const response_format = zodResponseFormat(Plan, 'plan');
    const parsed = await openai.chat.completions.parse({ model: 'sim', messages, response_format });
    const plan = Plan.parse(parsed.choices[0]?.message.parsed);
    const runner = openai.chat.completions.stream({ model: 'sim', messages, response_format });
    let deltas = 0;
    runner.on('content.delta', () => deltas++);
    const streamed = await runner.finalChatCompletion();
    expect(deltas).toBeGreaterThan(5);
    expect(streamed.choices[0]?.message.parsed).toEqual(plan);
  });

  it('returns logprobs for every token, with the requested top_logprobs, streamed and not', async () => {
    const messages = [{ role: 'user' as const, content: 'How sure are you?' }];
    const stream = await openai.chat.completions.create({
      model: 'sim',
      messages,
      logprobs: true,
      top_logprobs: 2,
      stream: true,
    });
    let text = '';
    const entries: OpenAI.ChatCompletionTokenLogprob[] = [];
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      entries.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    }
    expect(entries.map((entry) => entry.token).join('')).toBe(text);
    expect(entries.every((entry) => entry.logprob < 0 && entry.top_logprobs.length === 2)).toBe(true);
    const whole = await openai.chat.completions.create({
      model: 'sim',
      messages,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(whole.choices[0]?.logprobs?.content).toEqual(entries);
  });

  it('refuses a tool_choice that names no tool with a 400 naming the param', async () => {
    const error = await openai.chat.completions
      .create({
        model: 'sim',
        messages: [{ role: 'user', content: 'hi' }],
        tools: [zodFunction({ name: 'get_weather', parameters: WeatherArgs })],
        tool_choice: { type: 'function', function: { name: 'book_flight' } },
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('tool_choice');
  });
});

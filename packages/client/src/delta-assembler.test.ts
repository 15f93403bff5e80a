import type { ChatCompletionChunk } from '@spool/protocol';
import { describe, expect, it } from 'vitest';
import { DeltaAssembler } from './delta-assembler.js';

type Choice = ChatCompletionChunk['choices'][number];
const chunk = (
  choices: Array<Partial<Choice> & { delta: Choice['delta'] }>,
  extra: Partial<ChatCompletionChunk> = {},
) =>
  ({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'sim',
    choices: choices.map((choice) => ({ index: 0, finish_reason: null, ...choice })),
    ...extra,
  }) as ChatCompletionChunk;

describe('DeltaAssembler', () => {
  it('concatenates content and reports the text so far', () => {
    const assembler = new DeltaAssembler();
    assembler.apply(chunk([{ delta: { role: 'assistant', content: '' } }]));
    const events = assembler.apply(chunk([{ delta: { content: 'Hel' } }]));
    assembler.apply(chunk([{ delta: { content: 'lo' } }]));
    expect(events).toEqual([{ type: 'text-delta', choiceIndex: 0, delta: 'Hel', text: 'Hel' }]);
    expect(assembler.text()).toBe('Hello');
  });

  it('merges tool-call fragments by index, in any interleaving', () => {
    const assembler = new DeltaAssembler();
    assembler.apply(
      chunk([
        {
          delta: {
            tool_calls: [
              {
                index: 0,
                id: 'call_a',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"ci' },
              },
            ],
          },
        },
      ]),
    );
    assembler.apply(
      chunk([
        {
          delta: {
            tool_calls: [
              { index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{' } },
            ],
          },
        },
      ]),
    );
    const events = assembler.apply(
      chunk([
        {
          delta: {
            tool_calls: [
              { index: 0, function: { arguments: 'ty":"Oslo"}' } },
              { index: 1, function: { arguments: '}' } },
            ],
          },
        },
      ]),
    );
    assembler.apply(chunk([{ delta: {}, finish_reason: 'tool_calls' }]));
    expect(events[0]).toEqual({
      type: 'tool-call-delta',
      choiceIndex: 0,
      index: 0,
      id: 'call_a',
      name: 'get_weather',
      argumentsDelta: 'ty":"Oslo"}',
    });
    const message = assembler.toCompletion().choices[0]!;
    expect(message.finish_reason).toBe('tool_calls');
    expect(message.message.content).toBeNull();
    expect(message.message.tool_calls).toEqual([
      { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
      { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
  });

  it('keeps usage, finish reasons and several choices apart', () => {
    const assembler = new DeltaAssembler();
    assembler.apply(
      chunk([
        { index: 1, delta: { content: 'B' } },
        { index: 0, delta: { content: 'A' } },
      ]),
    );
    const finish = assembler.apply(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    const usage = assembler.apply(
      chunk([], { usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }),
    );
    expect(finish).toEqual([{ type: 'finish', choiceIndex: 0, finishReason: 'stop' }]);
    expect(usage).toEqual([
      { type: 'usage', usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } },
    ]);
    const completion = assembler.toCompletion();
    expect(completion).toMatchObject({ id: 'chatcmpl-1', object: 'chat.completion', model: 'sim' });
    expect(completion.choices.map((choice) => choice.message.content)).toEqual(['A', 'B']);
    expect(completion.usage?.total_tokens).toBe(5);
  });

  it('forgets everything on reset, for a restarted stream', () => {
    const assembler = new DeltaAssembler();
    assembler.apply(chunk([{ delta: { content: 'partial' } }]));
    assembler.reset();
    assembler.apply(chunk([{ delta: { content: 'fresh' } }]));
    expect(assembler.text()).toBe('fresh');
  });
});

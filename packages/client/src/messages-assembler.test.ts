import { describe, expect, it } from 'vitest';
import { MessagesAssembler } from './messages-assembler.js';

const events = [
  {
    type: 'message_start',
    message: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'm',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 7, output_tokens: 1 },
    },
  },
  { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Hmm.' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'future_event', anything: true },
  { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Checking ' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'weather.' } },
  { type: 'content_block_stop', index: 1 },
  {
    type: 'content_block_start',
    index: 2,
    content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} },
  },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
  { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } },
  { type: 'content_block_stop', index: 2 },
  {
    type: 'message_delta',
    delta: { stop_reason: 'tool_use', stop_sequence: null },
    usage: { output_tokens: 12 },
  },
  { type: 'message_stop' },
];

describe('MessagesAssembler', () => {
  it('folds a Messages stream into chat-shaped events and the whole message (thinking, text, tool_use)', () => {
    const assembler = new MessagesAssembler();
    const out = events.flatMap((event) => assembler.apply(JSON.stringify(event)));
    expect(out).toEqual([
      { type: 'text-delta', choiceIndex: 0, delta: 'Checking ', text: 'Checking ' },
      { type: 'text-delta', choiceIndex: 0, delta: 'weather.', text: 'Checking weather.' },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'toolu_1',
        name: 'get_weather',
        argumentsDelta: '',
      },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'toolu_1',
        name: 'get_weather',
        argumentsDelta: '{"city":',
      },
      {
        type: 'tool-call-delta',
        choiceIndex: 0,
        index: 0,
        id: 'toolu_1',
        name: 'get_weather',
        argumentsDelta: '"Paris"}',
      },
      { type: 'usage', usage: { prompt_tokens: 7, completion_tokens: 12, total_tokens: 19 } },
      { type: 'finish', choiceIndex: 0, finishReason: 'tool_calls' },
    ]);
    expect(assembler.text()).toBe('Checking weather.');
    expect(assembler.toMessage()).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'm',
      content: [
        { type: 'thinking', thinking: 'Hmm.', signature: 'sig' },
        { type: 'text', text: 'Checking weather.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 7, output_tokens: 12 },
    });
  });

  it('forgets everything on reset, and ignores data that is not JSON', () => {
    const assembler = new MessagesAssembler();
    for (const event of events.slice(0, 9)) assembler.apply(JSON.stringify(event));
    assembler.reset();
    expect(assembler.apply('not json')).toEqual([]);
    expect(assembler.text()).toBe('');
    expect(assembler.toMessage().content).toEqual([]);
  });
});

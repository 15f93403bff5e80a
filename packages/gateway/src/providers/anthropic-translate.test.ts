import type { ChatCompletionRequest, ChatMessage } from '@spool/protocol';
import { toFinishReason } from '@spool/protocol';
import { describe, expect, it } from 'vitest';
import { GatewayError, UpstreamError } from '../errors.js';
import { AnthropicStreamTranslator, fromAnthropicResponse } from './anthropic-response.js';
import { toAnthropicRequest } from './anthropic-translate.js';

const OPTIONS = { defaultMaxTokens: 4096 };

function translate(messages: ChatMessage[], extra: Partial<ChatCompletionRequest> = {}) {
  return toAnthropicRequest({ model: 'claude-x', messages, ...extra }, OPTIONS);
}

function refusal(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(400);
    return error as GatewayError;
  }
  throw new Error('expected a 400');
}

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: {} } },
};

describe('toAnthropicRequest', () => {
  it('moves system and developer messages, wherever they are, into one system string', () => {
    const body = translate([
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
      { role: 'user', content: 'Hi' },
      { role: 'system', content: 'Never use emoji.' },
    ]);
    expect(body.system).toBe('Be brief.\n\nAnswer in French.\n\nNever use emoji.');
    expect(body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
  });

  it('merges consecutive messages of one role, since Anthropic requires alternating roles', () => {
    const body = translate([
      { role: 'user', content: 'One' },
      { role: 'user', content: [{ type: 'text', text: 'Two' }] },
      { role: 'assistant', content: 'Three' },
      { role: 'assistant', content: 'Four' },
    ]);
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'One' },
          { type: 'text', text: 'Two' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Three' },
          { type: 'text', text: 'Four' },
        ],
      },
    ]);
  });

  it('turns assistant tool_calls into tool_use blocks and tool messages into one user message of tool_result blocks', () => {
    const body = translate([
      { role: 'user', content: 'Weather in SF and Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'toolu_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"location":"SF"}' },
          },
          { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
      { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '21°C' }] },
      { role: 'user', content: 'Thanks, which is warmer?' },
    ]);
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in SF and Paris?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'SF' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: '21°C' },
          { type: 'text', text: 'Thanks, which is warmer?' },
        ],
      },
    ]);
  });

  it('refuses tool call arguments that are not a JSON object, and a tool message without tool_call_id', () => {
    const badArguments = refusal(() =>
      translate([
        {
          role: 'assistant',
          tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{"unclosed' } }],
        },
      ]),
    );
    expect(badArguments.body.error.param).toBe('messages[0].tool_calls[0].function.arguments');
    expect(refusal(() => translate([{ role: 'tool', content: 'x' }])).body.error.param).toBe(
      'messages[0].tool_call_id',
    );
  });

  it.each([
    ['auto', { type: 'auto' }],
    ['none', { type: 'none' }],
    ['required', { type: 'any' }],
    [
      { type: 'function', function: { name: 'get_weather' } },
      { type: 'tool', name: 'get_weather' },
    ],
  ])('maps tool_choice %j to %j', (toolChoice, expected) => {
    const body = translate([{ role: 'user', content: 'x' }], {
      tools: [weatherTool],
      tool_choice: toolChoice,
    });
    expect(body.tool_choice).toEqual(expected);
  });

  it('maps tools and parallel_tool_calls: false, and refuses an unknown tool_choice', () => {
    const body = translate([{ role: 'user', content: 'x' }], {
      tools: [{ type: 'function', function: { name: 'now', description: 'The time.' } }],
      parallel_tool_calls: false,
    });
    expect(body.tools).toEqual([
      { name: 'now', description: 'The time.', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(body.tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(
      refusal(() => translate([{ role: 'user', content: 'x' }], { tools: [weatherTool], tool_choice: 'any' }))
        .body.error.param,
    ).toBe('tool_choice');
    expect(
      translate([{ role: 'user', content: 'x' }], { tool_choice: 'required' }).tool_choice,
    ).toBeUndefined();
  });

  it('maps stop, max tokens, sampling and user, and drops fields Anthropic has no use for', () => {
    const body = translate([{ role: 'user', content: 'x' }], {
      stop: 'END',
      max_tokens: 100,
      max_completion_tokens: 200,
      temperature: 0.2,
      top_p: 0.9,
      user: 'user-42',
      seed: 7,
      response_format: { type: 'text' },
      logprobs: false,
      stream: true,
    });
    expect(body).toEqual({
      model: 'claude-x',
      max_tokens: 200,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }],
      stop_sequences: ['END'],
      temperature: 0.2,
      top_p: 0.9,
      metadata: { user_id: 'user-42' },
      stream: true,
    });
    expect(translate([{ role: 'user', content: 'x' }], { stop: ['a', 'b'] }).stop_sequences).toEqual([
      'a',
      'b',
    ]);
    expect(translate([{ role: 'user', content: 'x' }], { max_tokens: 50 }).max_tokens).toBe(50);
    expect(translate([{ role: 'user', content: 'x' }]).max_tokens).toBe(4096);
  });

  it('sends data-URL images as base64 blocks and https images by URL', () => {
    const body = translate([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
        ],
      },
    ]);
    expect(body.messages[0]?.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
  });

  it('answers a clear 400 naming the part for unsupported content', () => {
    const bmp = refusal(() =>
      translate([
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }] },
      ]),
    );
    expect(bmp.body.error).toMatchObject({
      code: 'invalid_request',
      param: 'messages[0].content[0].image_url.url',
    });
    expect(bmp.body.error.message).toContain('image/png');
    const audio = refusal(() =>
      translate([
        { role: 'user', content: [{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }] },
      ]),
    );
    expect(audio.body.error.param).toBe('messages[0].content[0]');
    expect(audio.body.error.message).toContain('"input_audio"');
    const systemImage = refusal(() =>
      translate([
        { role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
      ]),
    );
    expect(systemImage.body.error.param).toBe('messages[0].content[0]');
    expect(refusal(() => translate([{ role: 'function', content: 'x', name: 'f' }])).body.error.param).toBe(
      'messages[0].role',
    );
    expect(refusal(() => translate([{ role: 'user', content: 'x' }], { n: 2 })).body.error.param).toBe('n');
  });
});

describe('AnthropicStreamTranslator', () => {
  const start = {
    data: JSON.stringify({
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [],
        usage: { input_tokens: 10, cache_read_input_tokens: 90, output_tokens: 1 },
      },
    }),
  };
  const event = (data: unknown) => ({ data: JSON.stringify(data) });
  const translator = (includeUsage = false) =>
    new AnthropicStreamTranslator({ model: 'm', includeUsage, now: () => 2_000_500 });

  it('numbers tool calls 0, 1, … in order of appearance, whatever Anthropic’s block index', () => {
    const subject = translator();
    subject.push(start);
    const blockStart = (index: number, block: unknown) =>
      subject.push(event({ type: 'content_block_start', index, content_block: block }));
    expect(blockStart(0, { type: 'thinking', thinking: '' })).toEqual([]);
    expect(
      subject.push(
        event({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } }),
      ),
    ).toEqual([]);
    const [toolStart] = blockStart(3, { type: 'tool_use', id: 'toolu_a', name: 'f', input: {} });
    expect(JSON.parse(toolStart ?? '').choices[0].delta.tool_calls[0]).toEqual({
      index: 0,
      id: 'toolu_a',
      type: 'function',
      function: { name: 'f', arguments: '' },
    });
    const [fragment] = subject.push(
      event({
        type: 'content_block_delta',
        index: 3,
        delta: { type: 'input_json_delta', partial_json: '{}' },
      }),
    );
    expect(JSON.parse(fragment ?? '').choices[0].delta.tool_calls).toEqual([
      { index: 0, function: { arguments: '{}' } },
    ]);
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ])('maps stop_reason %s to finish_reason %s', (stopReason, finishReason) => {
    expect(toFinishReason(stopReason)).toBe(finishReason);
    const subject = translator();
    subject.push(start);
    const [finish] = subject.push(
      event({ type: 'message_delta', delta: { stop_reason: stopReason }, usage: { output_tokens: 5 } }),
    );
    expect(JSON.parse(finish ?? '').choices[0]).toEqual({ index: 0, delta: {}, finish_reason: finishReason });
  });

  it('ends with [DONE] alone without include_usage, and counts cached tokens in prompt_tokens with it', () => {
    const plain = translator(false);
    plain.push(start);
    expect(plain.push(event({ type: 'message_stop' }))).toEqual(['[DONE]']);
    const withUsage = translator(true);
    withUsage.push(start);
    withUsage.push(
      event({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 7 } }),
    );
    const [usage, done] = withUsage.push(event({ type: 'message_stop' }));
    expect(JSON.parse(usage ?? '')).toEqual({
      id: 'chatcmpl-msg_1',
      object: 'chat.completion.chunk',
      created: 2000,
      model: 'm',
      choices: [],
      usage: { prompt_tokens: 100, completion_tokens: 7, total_tokens: 107 },
    });
    expect(done).toBe('[DONE]');
    expect(withUsage.done).toBe(true);
    expect(withUsage.push(event({ type: 'ping' }))).toEqual([]);
  });

  it('ignores pings and block stops, and stops after an error event', () => {
    const subject = translator();
    subject.push(start);
    expect(subject.push({ event: 'ping', data: '{"type": "ping"}' })).toEqual([]);
    expect(subject.push(event({ type: 'content_block_stop', index: 0 }))).toEqual([]);
    expect(
      subject.push({
        event: 'error',
        data: '{"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
      }),
    ).toEqual(['{"error":{"message":"Internal server error","type":"api_error","code":null,"param":null}}']);
    expect(subject.done).toBe(true);
    expect(subject.push(event({ type: 'message_stop' }))).toEqual([]);
  });

  it('fails with a 502 upstream_error on an event that is not JSON or that precedes message_start', () => {
    expect(() => translator().push({ data: 'not json' })).toThrow(UpstreamError);
    expect(() =>
      translator().push(
        event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x' } }),
      ),
    ).toThrow(/before message_start/);
  });
});

describe('fromAnthropicResponse', () => {
  it('gives null content when the model only called tools', () => {
    const completion = fromAnthropicResponse(
      {
        id: 'msg_2',
        type: 'message',
        role: 'assistant',
        content: [{ type: 'tool_use', id: 'toolu_b', name: 'f', input: {} }],
        stop_reason: 'tool_use',
        usage: { input_tokens: 3, output_tokens: 4 },
      },
      { model: 'm', now: () => 5_000 },
    );
    expect(completion.choices[0]?.message).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'toolu_b', type: 'function', function: { name: 'f', arguments: '{}' } }],
    });
    expect(completion.created).toBe(5);
  });

  it('joins text blocks and refuses a body that is not a message', () => {
    const completion = fromAnthropicResponse(
      {
        id: 'msg_3',
        content: [
          { type: 'text', text: 'Hello, ' },
          { type: 'text', text: 'world.' },
        ],
        stop_reason: 'end_turn',
      },
      { model: 'm' },
    );
    expect(completion.choices[0]?.message.content).toBe('Hello, world.');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(() => fromAnthropicResponse({ error: 'nope' }, { model: 'm' })).toThrow(UpstreamError);
  });
});

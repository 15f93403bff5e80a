import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { type MessagesRequest, parseMessagesRequest } from '../surfaces/messages/messages-schema.js';
import { messagesToChatRequest } from './messages-to-chat.js';

function request(extra: Partial<MessagesRequest> & Record<string, unknown> = {}): MessagesRequest {
  return {
    model: 'sim-1',
    max_tokens: 64,
    messages: [{ role: 'user', content: 'hi' }],
    ...extra,
  } as MessagesRequest;
}

function refusal(fn: () => unknown): { status: number; param: string | null } {
  try {
    fn();
  } catch (error) {
    if (error instanceof GatewayError) return { status: error.status, param: error.body.error.param };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('messagesToChatRequest', () => {
  it('maps system (string and blocks), sampling fields, stop sequences, metadata and max_tokens', () => {
    expect(
      messagesToChatRequest(
        request({
          system: [
            { type: 'text', text: 'Be brief.' },
            { type: 'text', text: 'Be kind.', cache_control: { type: 'ephemeral' } },
          ],
          temperature: 0.5,
          top_p: 0.9,
          stop_sequences: ['END'],
          metadata: { user_id: 'u-1' },
          stream: true,
          thinking: { type: 'adaptive' },
          context_management: { edits: [] },
          output_config: { effort: 'high' },
        }),
      ),
    ).toEqual({
      model: 'sim-1',
      max_tokens: 64,
      stream: true,
      temperature: 0.5,
      top_p: 0.9,
      stop: ['END'],
      user: 'u-1',
      messages: [
        { role: 'system', content: 'Be brief.\n\nBe kind.' },
        { role: 'user', content: 'hi' },
      ],
    });
    expect(messagesToChatRequest(request({ system: 'S' })).messages[0]).toEqual({
      role: 'system',
      content: 'S',
    });
  });

  it('maps text and image blocks (base64 and url) to content parts', () => {
    const chat = messagesToChatRequest(
      request({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
              { type: 'image', source: { type: 'url', url: 'https://example.com/a.jpg' } },
            ],
          },
        ],
      }),
    );
    expect(chat.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
          { type: 'image_url', image_url: { url: 'https://example.com/a.jpg' } },
        ],
      },
    ]);
  });

  it('maps a tool-use round trip: tool_use to tool_calls, tool_result to a tool message before the user text', () => {
    const chat = messagesToChatRequest(
      request({
        tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' } }],
        tool_choice: { type: 'any', disable_parallel_tool_use: true },
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hmm', signature: 'x' },
              { type: 'text', text: 'Checking.' },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '21C' }] },
              { type: 'text', text: 'Thanks' },
            ],
          },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: 'toolu_2', content: 'boom', is_error: true }],
          },
        ],
      }),
    );
    expect(chat.tools).toEqual([
      {
        type: 'function',
        function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } },
      },
    ]);
    expect(chat.tool_choice).toBe('required');
    expect(chat.parallel_tool_calls).toBe(false);
    expect(chat.messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          {
            id: 'toolu_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: '21C' },
      { role: 'user', content: 'Thanks' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: boom' },
    ]);
  });

  it('maps every tool_choice', () => {
    const tools = [{ name: 't', input_schema: {} }];
    const choice = (tool_choice: MessagesRequest['tool_choice']) =>
      messagesToChatRequest(request({ tools, tool_choice })).tool_choice;
    expect(choice({ type: 'auto' })).toBe('auto');
    expect(choice({ type: 'none' })).toBe('none');
    expect(choice({ type: 'tool', name: 't' })).toEqual({ type: 'function', function: { name: 't' } });
  });

  it('refuses with a 400 naming the param what a chat upstream cannot be told', () => {
    expect(refusal(() => messagesToChatRequest(request({ top_k: 5 })))).toEqual({
      status: 400,
      param: 'top_k',
    });
    expect(refusal(() => messagesToChatRequest(request({ mcp_servers: [] })))).toEqual({
      status: 400,
      param: 'mcp_servers',
    });
    expect(
      refusal(() =>
        messagesToChatRequest(request({ tools: [{ name: 'web_search', type: 'web_search_20250305' }] })),
      ),
    ).toEqual({ status: 400, param: 'tools[0].type' });
    expect(
      refusal(() =>
        messagesToChatRequest(
          request({
            messages: [
              {
                role: 'user',
                content: [
                  { type: 'text', text: 'a' },
                  { type: 'document', source: {} },
                ],
              },
            ],
          }),
        ),
      ),
    ).toEqual({ status: 400, param: 'messages[0].content[1].type' });
    expect(
      refusal(() =>
        messagesToChatRequest(
          request({
            messages: [
              {
                role: 'user',
                content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'A' } }],
              },
            ],
          }),
        ),
      ),
    ).toEqual({ status: 400, param: 'messages[0].content[0].source' });
  });

  it('never throws anything but a 400 for any request the schema accepts (property)', () => {
    const block = fc.oneof(
      fc.record({ type: fc.constant('text'), text: fc.string() }),
      fc.record({ type: fc.constant('tool_use'), id: fc.string(), name: fc.string(), input: fc.anything() }),
      fc.record({
        type: fc.constant('tool_result'),
        tool_use_id: fc.string(),
        content: fc.oneof(fc.string(), fc.anything()),
      }),
      fc.record({ type: fc.constant('image'), source: fc.anything() }),
      fc.record({ type: fc.string({ minLength: 1 }) }),
    );
    const body = fc.record({
      model: fc.string({ minLength: 1 }),
      max_tokens: fc.integer({ min: 1 }),
      messages: fc.array(
        fc.record({
          role: fc.constantFrom('user', 'assistant', 'system'),
          content: fc.oneof(fc.string(), fc.array(block)),
        }),
        { minLength: 1, maxLength: 5 },
      ),
      system: fc.option(fc.string(), { nil: undefined }),
    });
    fc.assert(
      fc.property(body, (candidate) => {
        let parsed: MessagesRequest;
        try {
          parsed = parseMessagesRequest(Buffer.from(JSON.stringify(candidate)), 128);
        } catch (error) {
          expect(error).toBeInstanceOf(GatewayError);
          return;
        }
        try {
          const chat = messagesToChatRequest(parsed);
          expect(chat.model).toBe(candidate.model);
          expect(chat.max_tokens).toBe(candidate.max_tokens);
        } catch (error) {
          expect(error).toBeInstanceOf(GatewayError);
          expect((error as GatewayError).status).toBe(400);
          expect((error as GatewayError).body.error.param).toBeTruthy();
        }
      }),
      { numRuns: 300 },
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chatStream, isProtocolError, relayTranslated } from '../../test/chat-chunk-shapes.js';
import { MessagesEvents } from '../surfaces/messages/messages-events.js';
import { chatToMessagesResponse } from './chat-to-messages-response.js';
import { ChatToMessagesEvents, ChatToMessagesStream } from './chat-to-messages-stream.js';

const base = { id: 'chatcmpl-abc', object: 'chat.completion.chunk', created: 1, model: 'up' };
const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null) =>
  JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason }] });
const usage = JSON.stringify({
  ...base,
  choices: [],
  usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
});

function run(datas: string[]) {
  const translator = new ChatToMessagesStream({ model: 'sim-1' });
  return datas
    .flatMap((data) => translator.push(data))
    .map((event) => ({ event: event.event, ...JSON.parse(event.data) }));
}

describe('ChatToMessagesStream', () => {
  it("emits Anthropic's events in order for text then a streamed tool call, usage in message_delta", () => {
    const events = run([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hel' }),
      chunk({ content: 'lo' }),
      chunk({
        tool_calls: [
          { index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } },
        ],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({}, 'tool_calls'),
      usage,
      '[DONE]',
    ]);
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const event of events) expect(event.type).toBe(event.event);
    expect(events[0].message).toEqual({
      id: 'msg_abc',
      type: 'message',
      role: 'assistant',
      model: 'sim-1',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0 },
    });
    expect(events[1]).toMatchObject({ index: 0, content_block: { type: 'text', text: '' } });
    expect(events[2]).toMatchObject({ index: 0, delta: { type: 'text_delta', text: 'Hel' } });
    expect(events[5]).toMatchObject({
      index: 1,
      content_block: { type: 'tool_use', id: 'call_1', name: 'get_weather', input: {} },
    });
    expect(events[6]).toMatchObject({
      index: 1,
      delta: { type: 'input_json_delta', partial_json: '{"city":' },
    });
    expect(events[9]).toMatchObject({
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 7, output_tokens: 3 },
    });
  });

  it('maps finish reasons to stop reasons', () => {
    const stopOf = (finish: string) =>
      run([chunk({ content: 'x' }, finish), '[DONE]']).at(-2)?.delta.stop_reason;
    expect(stopOf('stop')).toBe('end_turn');
    expect(stopOf('length')).toBe('max_tokens');
    expect(stopOf('content_filter')).toBe('refusal');
  });

  it('turns an error chunk into one error event in Anthropic shape and ignores what follows', () => {
    const events = run([
      chunk({ content: 'a' }),
      JSON.stringify({
        error: { message: 'Too busy', type: 'server_error', code: 'upstream_busy', param: null },
      }),
      chunk({ content: 'b' }),
    ]);
    expect(events.at(-1)).toEqual({
      event: 'error',
      type: 'error',
      error: { type: 'api_error', message: 'Too busy (code: upstream_busy)' },
    });
    expect(events.filter((event) => event.event === 'error')).toHaveLength(1);
  });

  it('answers an empty stream with a complete empty message', () => {
    expect(run(['[DONE]']).map((event) => event.event)).toEqual([
      'message_start',
      'message_delta',
      'message_stop',
    ]);
  });

  it('yields a well-formed Messages stream that carries the same text and tool arguments for any chat stream (property)', () => {
    const piece = fc.oneof(
      fc.record({ kind: fc.constant('text' as const), text: fc.string({ minLength: 1 }) }),
      fc.record({
        kind: fc.constant('tool' as const),
        call: fc.integer({ min: 0, max: 2 }),
        args: fc.string(),
      }),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 30 }),
        fc.constantFrom('stop', 'length', 'tool_calls'),
        (pieces, finish) => {
          const datas: string[] = [chunk({ role: 'assistant', content: '' })];
          const seenCalls = new Set<number>();
          let text = '';
          const args = new Map<number, string>();
          // Chat streams send each tool call's fragments after the previous call's: keep calls in order.
          let lastCall = -1;
          let textSinceCall = false;
          for (const entry of pieces) {
            if (entry.kind === 'text') {
              textSinceCall = true;
              text += entry.text;
              datas.push(chunk({ content: entry.text }));
              continue;
            }
            // …and text between two fragments of one call does not happen either: a new call follows text.
            const call =
              textSinceCall && lastCall >= 0
                ? Math.max(entry.call, lastCall + 1)
                : Math.max(entry.call, lastCall);
            lastCall = call;
            textSinceCall = false;
            const start = seenCalls.has(call)
              ? {}
              : { id: `call_${call}`, type: 'function', function: { name: `f${call}`, arguments: '' } };
            seenCalls.add(call);
            datas.push(chunk({ tool_calls: [{ index: call, ...start }] }));
            if (entry.args !== '')
              datas.push(chunk({ tool_calls: [{ index: call, function: { arguments: entry.args } }] }));
            args.set(call, (args.get(call) ?? '') + entry.args);
          }
          datas.push(chunk({}, finish), usage, '[DONE]');
          const events = run(datas);
          expect(events[0]?.event).toBe('message_start');
          expect(events.at(-2)?.event).toBe('message_delta');
          expect(events.at(-1)?.event).toBe('message_stop');
          let open: number | undefined;
          let nextIndex = 0;
          let gotText = '';
          const gotArgs = new Map<string, string>();
          const names = new Map<number, string>();
          for (const event of events.slice(1, -2)) {
            if (event.event === 'content_block_start') {
              expect(open).toBeUndefined();
              expect(event.index).toBe(nextIndex++);
              open = event.index;
              if (event.content_block.type === 'tool_use') names.set(event.index, event.content_block.name);
            } else if (event.event === 'content_block_stop') {
              expect(event.index).toBe(open);
              open = undefined;
            } else {
              expect(event.event).toBe('content_block_delta');
              expect(event.index).toBe(open);
              if (event.delta.type === 'text_delta') gotText += event.delta.text;
              else {
                const name = names.get(event.index) as string;
                gotArgs.set(name, (gotArgs.get(name) ?? '') + event.delta.partial_json);
              }
            }
          }
          expect(open).toBeUndefined();
          expect(gotText).toBe(text);
          for (const [call, joined] of args) if (joined !== '') expect(gotArgs.get(`f${call}`)).toBe(joined);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('chatToMessagesResponse', () => {
  it('maps a chat completion with text and a tool call to a Message', () => {
    expect(
      chatToMessagesResponse(
        {
          id: 'chatcmpl-9',
          object: 'chat.completion',
          created: 1,
          model: 'up',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: 'Sure.',
                tool_calls: [
                  { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
                ],
              },
              finish_reason: 'tool_calls',
            },
          ],
          usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 },
        },
        { model: 'sim-1' },
      ),
    ).toEqual({
      id: 'msg_9',
      type: 'message',
      role: 'assistant',
      model: 'sim-1',
      content: [
        { type: 'text', text: 'Sure.' },
        { type: 'tool_use', id: 'call_1', name: 'f', input: { a: 1 } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 4, output_tokens: 2 },
    });
  });

  it('refuses (502) a body that is not a chat completion, or tool arguments that are not an object', () => {
    expect(() => chatToMessagesResponse({}, { model: 'm' })).toThrow(/without a chat completion/);
    const bad = {
      choices: [
        {
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }],
          },
          finish_reason: 'tool_calls',
        },
      ],
    };
    expect(() => chatToMessagesResponse(bad, { model: 'm' })).toThrow(/not a JSON object/);
  });
});

describe('ChatToMessagesStream text deltas', () => {
  it('property: a text delta is byte for byte the JSON of its event, whatever the text, parsed already or not', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }),
        (texts) => {
          const translator = new ChatToMessagesStream({ model: 'm' });
          const datas = texts.map((text) => chunk({ content: text }));
          const deltas = datas
            .flatMap((data, index) => translator.push(data, index % 2 === 0 ? JSON.parse(data) : undefined))
            .filter((event) => event.event === 'content_block_delta');
          expect(deltas.map((event) => event.data)).toEqual(
            texts.map((text) =>
              JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
            ),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('ChatToMessagesEvents', () => {
  /** A chat source that yields `datas` in one read (the rest through takeBuffered), counting releases. */
  function source(datas: string[]) {
    let released = 0;
    let index = 0;
    const iterator = {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        return index < datas.length
          ? { done: false as const, value: { data: datas[index++] as string } }
          : { done: true as const, value: undefined };
      },
      takeBuffered() {
        const rest = datas.slice(index).map((data) => ({ data }));
        index = datas.length;
        return rest;
      },
      async return() {
        released++;
        return { done: true as const, value: undefined };
      },
    };
    return { iterator, released: () => released };
  }

  it('hands over everything one upstream read translated to as one batch, and releases the source when stopped', async () => {
    const chat = source([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hi' }),
      chunk({}, 'stop'),
      usage,
      '[DONE]',
    ]);
    const events = new ChatToMessagesEvents(chat.iterator, { model: 'm' });
    const first = await events.next();
    const rest = events.takeBuffered();
    expect([first.value, ...rest].map((event) => event?.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events.takeBuffered()).toEqual([]);
    await events.return();
    await events.return();
    expect(chat.released()).toBe(1);
  });

  it('completes a chat stream that finished but lost its [DONE]; ends one cut before finishing without message_stop', async () => {
    const finished = new ChatToMessagesEvents(source([chunk({ content: 'a' }, 'length')]).iterator, {
      model: 'm',
    });
    const all: Array<string | undefined> = [];
    for await (const event of finished) all.push(event.event);
    expect(all.slice(-2)).toEqual(['message_delta', 'message_stop']);
    const cut = new ChatToMessagesEvents(source([chunk({ content: 'a' })]).iterator, { model: 'm' });
    const partial: Array<string | undefined> = [];
    for await (const event of cut) partial.push(event.event);
    expect(partial).toEqual(['message_start', 'content_block_start', 'content_block_delta']);
  });

  it('property: fed by the chat normalizer, a stream with a misshapen chunk ends in one error event naming upstream_protocol_error; others complete', async () => {
    await fc.assert(
      fc.asyncProperty(chatStream, async ({ datas, misshapen }) => {
        const { events, thrown } = await relayTranslated(
          datas,
          (chat) => new ChatToMessagesEvents(chat, { model: 'm' }),
          new MessagesEvents(),
        );
        const errors = events.filter((event) => event.event === 'error');
        if (misshapen) {
          expect(isProtocolError(thrown), String(thrown)).toBe(true);
          expect(errors).toHaveLength(1);
          expect(events.at(-1)).toBe(errors[0]);
          expect(JSON.parse(errors[0]?.data ?? '')).toEqual({
            type: 'error',
            error: { type: 'api_error', message: expect.stringContaining('upstream_protocol_error') },
          });
        } else {
          expect(thrown).toBeUndefined();
          expect(errors).toHaveLength(0);
          expect(events.at(-1)?.event).toBe('message_stop');
        }
        // What an Anthropic client appends: text, tool names and input JSON always arrive as strings.
        for (const event of events) {
          const payload = JSON.parse(event.data);
          if (event.event === 'content_block_delta') {
            expect(typeof (payload.delta.text ?? payload.delta.partial_json)).toBe('string');
          }
          if (event.event === 'content_block_start' && payload.content_block.type === 'tool_use') {
            expect(typeof payload.content_block.name).toBe('string');
            expect(typeof payload.content_block.id).toBe('string');
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

import type { ChatCompletionChunk } from '@spool/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chatStream, isProtocolError, relayTranslated } from '../../test/chat-chunk-shapes.js';
import type { UpstreamEvent } from '../providers/provider.js';
import { foldResponse } from '../surfaces/responses/response-object.js';
import { RESPONSES_EVENTS } from '../surfaces/responses/responses-events.js';
import { ChatToResponses, type ResponsesEvent, translateChatStream } from './chat-to-responses-stream.js';

const base = { id: 'resp_0123456789abcdef', object: 'response', model: 'm' };

function chunk(delta: Record<string, unknown>, finishReason: string | null = null): ChatCompletionChunk {
  return {
    id: 'c',
    object: 'chat.completion.chunk' as const,
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  } as ChatCompletionChunk;
}

/** Checks the invariants every translated stream keeps: created first, one terminal last, items opened before use and closed. */
function expectWellFormed(events: readonly ResponsesEvent[]): void {
  expect(events[0]?.type).toBe('response.created');
  expect(events[1]?.type).toBe('response.in_progress');
  const terminal = events.filter((event) => /^response\.(completed|incomplete|failed)$/.test(event.type));
  expect(terminal).toHaveLength(1);
  expect(events.at(-1)).toBe(terminal[0]);
  const open = new Set<number>();
  for (const event of events) {
    const index = event.output_index as number;
    if (event.type === 'response.output_item.added') open.add(index);
    if (event.type.endsWith('.delta')) expect(open.has(index)).toBe(true);
    if (event.type === 'response.output_item.done') open.delete(index);
  }
  expect(open.size).toBe(0);
}

describe('ChatToResponses', () => {
  it('property: any split of text and tool-call arguments into chunks yields well-formed events whose output is the whole text and arguments', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 12 }),
        fc.array(fc.array(fc.string({ minLength: 1, maxLength: 5 }), { maxLength: 5 }), { maxLength: 3 }),
        fc.constantFrom('stop', 'length', 'tool_calls', 'content_filter'),
        (textPieces, calls, finishReason) => {
          const translator = new ChatToResponses(base);
          const events: ResponsesEvent[] = [...translator.start()];
          for (const piece of textPieces) events.push(...translator.push(chunk({ content: piece })));
          calls.forEach((pieces, index) => {
            events.push(
              ...translator.push(
                chunk({
                  tool_calls: [
                    { index, id: `call_${index}`, function: { name: `f${index}`, arguments: '' } },
                  ],
                }),
              ),
            );
            for (const piece of pieces)
              events.push(
                ...translator.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] })),
              );
          });
          events.push(...translator.push(chunk({}, finishReason)));
          events.push(...translator.end());
          expectWellFormed(events);
          const folded = foldResponse(events as never, { state: 'done' }, base);
          const terminal = events.at(-1) as unknown as { response: { output: unknown[]; status: string } };
          expect(folded.output).toEqual(terminal.response.output);
          expect(terminal.response.status).toBe(
            finishReason === 'length' || finishReason === 'content_filter' ? 'incomplete' : 'completed',
          );
          const output = terminal.response.output as Array<Record<string, unknown>>;
          const text = textPieces.join('');
          const messages = output.filter((item) => item.type === 'message');
          expect(messages.map((item) => (item.content as Array<{ text: string }>)[0]?.text).join('')).toBe(
            text,
          );
          expect(
            output.filter((item) => item.type === 'function_call').map((item) => item.arguments),
          ).toEqual(calls.map((pieces) => pieces.join('')));
          // Replaying the deltas over the added events gives the same output (what a client reassembles).
          const partial = foldResponse(
            events.filter((event) => !/^response\.(completed|incomplete)$/.test(event.type)) as never,
            { state: 'streaming' },
            base,
          );
          expect(partial.status).toBe('in_progress');
          expect(partial.output).toEqual(output);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('maps chat usage to Responses usage and an error chunk to one error event', () => {
    const translator = new ChatToResponses(base);
    translator.push(chunk({ content: 'hi' }, 'stop'));
    translator.push({
      ...chunk({}),
      choices: [],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    });
    const terminal = translator.end().at(-1) as unknown as { response: { usage: Record<string, unknown> } };
    expect(terminal.response.usage).toMatchObject({ input_tokens: 5, output_tokens: 2, total_tokens: 7 });

    const failing = new ChatToResponses(base);
    const events = failing.push({
      error: { message: 'boom', code: 'upstream_error', type: 'api_error', param: null },
    });
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_error', message: 'boom' });
    expect(failing.ended).toBe(true);
    expect(failing.end()).toEqual([]);
  });

  it('property: fed by the chat normalizer, a stream with a misshapen chunk ends in one upstream_protocol_error event, never a TypeError; others complete', async () => {
    await fc.assert(
      fc.asyncProperty(chatStream, async ({ datas, misshapen }) => {
        const { events, thrown } = await relayTranslated(
          datas,
          (chat) => translateChatStream(chat, base),
          RESPONSES_EVENTS,
        );
        const payloads = events.map((event) => JSON.parse(event.data) as ResponsesEvent);
        const errors = payloads.filter((payload) => payload.type === 'error');
        if (misshapen) {
          expect(isProtocolError(thrown), String(thrown)).toBe(true);
          expect(errors).toHaveLength(1);
          expect(payloads.at(-1)).toMatchObject({ type: 'error', code: 'upstream_protocol_error' });
        } else {
          expect(thrown).toBeUndefined();
          expect(errors).toHaveLength(0);
          expect(payloads.at(-1)?.type).toMatch(/^response\.(completed|incomplete)$/);
        }
        // What a Responses client appends: text and arguments always arrive as strings.
        for (const payload of payloads) {
          if (payload.type.endsWith('.delta')) expect(typeof payload.delta).toBe('string');
          if (payload.type === 'response.output_item.added' && payload.item) {
            const item = payload.item as Record<string, unknown>;
            if (item.type === 'function_call') {
              expect(typeof item.name).toBe('string');
              expect(typeof item.call_id).toBe('string');
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('translateChatStream', () => {
  /** A chat source that yields `datas` in one read (the rest through takeBuffered), counting releases. */
  function source(datas: string[], parsed = false) {
    let released = 0;
    let index = 0;
    const event = (data: string): UpstreamEvent =>
      parsed && data !== '[DONE]' ? { data, parsed: JSON.parse(data) } : { data };
    const iterator = {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        return index < datas.length
          ? { done: false as const, value: event(datas[index++] as string) }
          : { done: true as const, value: undefined };
      },
      takeBuffered() {
        const rest = datas.slice(index).map(event);
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

  const usage = JSON.stringify({
    ...chunk({}),
    choices: [],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  });

  it('hands over everything one upstream read translated to as one batch, and releases the source when stopped', async () => {
    const chat = source([
      JSON.stringify(chunk({ role: 'assistant', content: '' })),
      JSON.stringify(chunk({ content: 'Hi' })),
      JSON.stringify(chunk({}, 'stop')),
      usage,
      '[DONE]',
    ]);
    const events = translateChatStream(chat.iterator, base);
    const first = await events.next();
    const rest = events.takeBuffered();
    expect([first.value, ...rest].map((event) => event?.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.takeBuffered()).toEqual([]);
    await events.return();
    await events.return();
    expect(chat.released()).toBe(1);
  });

  it('property: every event is byte for byte the JSON of what ChatToResponses makes of the chunks, parsed already or not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 8 }),
        fc.boolean(),
        async (texts, parsed) => {
          const chunks = [...texts.map((text) => chunk({ content: text })), chunk({}, 'stop')];
          const translator = new ChatToResponses(base);
          const expected = [...chunks.flatMap((each) => translator.push(each)), ...translator.end()];
          const datas = [...chunks.map((each) => JSON.stringify(each)), '[DONE]'];
          const got: UpstreamEvent[] = [];
          for await (const event of translateChatStream(source(datas, parsed).iterator, base))
            got.push(event);
          expect(got).toEqual(expected.map((event) => ({ event: event.type, data: JSON.stringify(event) })));
        },
      ),
      { numRuns: 100 },
    );
  });
});

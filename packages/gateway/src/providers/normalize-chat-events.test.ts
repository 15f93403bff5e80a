import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../errors.js';
import { normalizeChatEvent, normalizeChatEvents } from './normalize-chat-events.js';
import { type BufferedEventSource, SseEvent, type UpstreamEvent } from './provider.js';

const CHUNK = '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}';

function codeOf(result: ReturnType<typeof normalizeChatEvent>): unknown {
  return result instanceof UpstreamError ? result.code : result;
}

describe('normalizeChatEvent', () => {
  it('relays an unnamed chunk, [DONE] and a complete error body as the same object', () => {
    for (const data of [
      CHUNK,
      '[DONE]',
      '{"choices":[],"usage":{"total_tokens":3}}',
      '{"error":{"message":"m","type":"t","code":null,"param":null}}',
    ]) {
      const event = { data };
      expect(normalizeChatEvent(event, 'up')).toBe(event);
    }
  });

  it('keeps the parse of a chunk the SSE parser read on the event, which still reads and compares as its data', () => {
    const event = new SseEvent(CHUNK, undefined);
    const normalized = normalizeChatEvent(event, 'up') as UpstreamEvent;
    expect(normalized).toBe(event);
    expect(normalized.parsed).toEqual(JSON.parse(CHUNK));
    expect(normalized).toEqual({ data: CHUNK });
    expect({ ...normalized }).toEqual({ data: CHUNK, event: undefined });
    const done = new SseEvent('[DONE]', undefined);
    expect((normalizeChatEvent(done, 'up') as UpstreamEvent).parsed).toBeUndefined();
  });

  it('removes event names from chunks and drops pings and empty data', () => {
    expect(normalizeChatEvent({ data: CHUNK, event: 'message' }, 'up')).toEqual({ data: CHUNK });
    expect(normalizeChatEvent({ data: CHUNK, event: 'delta' }, 'up')).toEqual({ data: CHUNK });
    expect(normalizeChatEvent({ data: '[DONE]', event: 'done' }, 'up')).toEqual({ data: '[DONE]' });
    expect(normalizeChatEvent({ data: CHUNK, event: 'ping' }, 'up')).toBeUndefined();
    expect(normalizeChatEvent({ data: '' }, 'up')).toBeUndefined();
    // A named event that is not a chunk is an extension of that upstream's own.
    expect(normalizeChatEvent({ data: '{"note":1}', event: 'metadata' }, 'up')).toBeUndefined();
    expect(normalizeChatEvent({ data: 'not json', event: 'metadata' }, 'up')).toBeUndefined();
  });

  it('turns event: error and partial error objects into OpenAI-shaped errors with the upstream message', () => {
    const parse = (result: ReturnType<typeof normalizeChatEvent>) =>
      JSON.parse((result as UpstreamEvent).data).error;
    expect(parse(normalizeChatEvent({ data: '{"error":{"message":"boom"}}', event: 'error' }, 'up'))).toEqual(
      {
        message: 'boom',
        type: 'api_error',
        code: 'upstream_error',
        param: null,
      },
    );
    expect(parse(normalizeChatEvent({ data: 'plain words', event: 'error' }, 'up')).message).toBe(
      'plain words',
    );
    expect(parse(normalizeChatEvent({ data: '', event: 'error' }, 'up')).message).toBe(
      'The upstream reported an error mid-stream.',
    );
    expect(parse(normalizeChatEvent({ data: '{"error":"a string"}' }, 'up')).message).toBe('a string');
    expect(
      parse(normalizeChatEvent({ data: '{"error":{"message":"slow","code":429,"type":"rate"}}' }, 'up')),
    ).toEqual({ message: 'slow', type: 'rate', code: '429', param: null });
    // An error after other keys is written error-first, so the relay ends the stream on it.
    const late = normalizeChatEvent(
      { data: '{"id":"c","error":{"message":"late","type":"t","code":null,"param":null}}' },
      'up',
    ) as UpstreamEvent;
    expect(late.data).toBe('{"error":{"message":"late","type":"t","code":"upstream_error","param":null}}');
    // A falsy error is no error (as the openai SDK reads it).
    const chunk = { data: '{"error":null,"choices":[]}' };
    expect(normalizeChatEvent(chunk, 'up')).toBe(chunk);
  });

  it('answers upstream_protocol_error for unnamed data that is not a chunk, quoting it', () => {
    for (const data of ['{oops', '[1,2]', 'null', '"text"', '{"id":"x"}', '{"choices":{}}']) {
      expect(codeOf(normalizeChatEvent({ data }, 'up'))).toBe('upstream_protocol_error');
    }
    const error = normalizeChatEvent({ data: `{${'x'.repeat(1000)}` }, 'up') as UpstreamError;
    expect(error.message).toContain('Upstream "up"');
    expect(error.message.length).toBeLessThan(400);
    expect(error.retryable).toBe(false);
  });

  it('answers upstream_protocol_error for a chunk whose fields have the wrong type, named or not, saying which field', () => {
    const fault = (data: string, event?: string) =>
      (normalizeChatEvent({ data, event }, 'up') as UpstreamError).message;
    expect(fault('{"choices":[null]}')).toContain('whose choices[0] is not an object');
    expect(fault('{"choices":[{"index":0,"delta":{"tool_calls":[null]}}]}', 'delta')).toContain(
      'whose choices[0].delta.tool_calls[0] is not an object',
    );
    expect(
      fault('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":5}}]}}]}'),
    ).toContain('whose choices[0].delta.tool_calls[0].function.arguments is not a string');
    expect(fault('{"choices":[],"usage":5}', 'message')).toContain('whose usage is not an object');
    // Null where OpenAI's types allow it, and fields Spool does not know, are fine.
    const loose = {
      data: '{"choices":[{"index":0,"delta":null,"finish_reason":null,"x":[1]}],"usage":null,"y":{}}',
    };
    expect(normalizeChatEvent(loose, 'up')).toBe(loose);
  });
});

/** A source that hands out scripted reads: each read's first event from next(), the rest buffered. */
function source(reads: UpstreamEvent[][]): AsyncIterator<UpstreamEvent> & BufferedEventSource {
  let buffered: UpstreamEvent[] = [];
  return {
    async next() {
      if (buffered.length > 0) return { done: false, value: buffered.shift() as UpstreamEvent };
      const read = reads.shift();
      if (!read) return { done: true, value: undefined };
      buffered = read.slice(1);
      return { done: false, value: read[0] as UpstreamEvent };
    },
    takeBuffered() {
      const taken = buffered;
      buffered = [];
      return taken;
    },
  };
}

describe('normalizeChatEvents', () => {
  it('hands out the buffered events before a protocol error, then rejects with it', async () => {
    const events = normalizeChatEvents(
      source([[{ data: CHUNK }, { data: CHUNK, event: 'x' }, { data: '{bad' }, { data: CHUNK }]]),
      'up',
    );
    expect((await events.next()).value).toEqual({ data: CHUNK });
    expect(events.takeBuffered()).toEqual([{ data: CHUNK }]);
    expect(events.takeBuffered()).toEqual([]);
    await expect(events.next()).rejects.toMatchObject({ code: 'upstream_protocol_error' });
    expect(await events.next()).toEqual({ done: true, value: undefined });
  });

  it('skips any run of pings, across reads, to the next chunk', async () => {
    const pings = Array.from({ length: 10_000 }, () => ({ data: '{}', event: 'ping' }));
    const events = normalizeChatEvents(source([pings, pings, [{ data: CHUNK }]]), 'up');
    expect((await events.next()).value).toEqual({ data: CHUNK });
    expect(await events.next()).toEqual({ done: true, value: undefined });
  });
});

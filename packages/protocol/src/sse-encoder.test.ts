import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeComment, encodeEvent, encodeRetry, SseFieldError } from './sse-encoder.js';

function parseAll(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  parser.feed(text);
  return events;
}

describe('encodeEvent', () => {
  it('writes id, event and data lines and the blank line that dispatches them', () => {
    expect(encodeEvent({ id: 3, data: '{"x":1}' })).toBe('id: 3\ndata: {"x":1}\n\n');
    expect(encodeEvent({ id: 4, event: 'error', data: 'x' })).toBe('id: 4\nevent: error\ndata: x\n\n');
  });

  it('splits data on any line break so a conforming parser gets it back joined by LF', () => {
    fc.assert(
      fc.property(fc.string(), fc.nat(), (data, id) => {
        const [event] = parseAll(encodeEvent({ id, data }));
        expect(event?.data).toBe(data.replace(/\r\n|\r/g, '\n'));
        expect(event?.id).toBe(String(id));
      }),
    );
  });

  it('refuses an id or event name that would inject a line into the stream', () => {
    expect(() => encodeEvent({ id: '1\ndata: injected', data: 'x' })).toThrow(SseFieldError);
    expect(() => encodeEvent({ event: 'message\r\nid: 99', data: 'x' })).toThrow(SseFieldError);
    expect(() => encodeComment('ping\n\ndata: x')).toThrow(SseFieldError);
  });

  it('encodes comments and retry hints that parsers do not dispatch as events', () => {
    expect(parseAll(encodeComment() + encodeRetry(1500.7))).toEqual([]);
    expect(encodeRetry(1500.7)).toBe('retry: 1500\n\n');
  });
});

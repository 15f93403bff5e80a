import { encodeComment, encodeEvent } from '@spool/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countStoredEvents, parseStoredEvents, storedEventsEnd } from './stored-events.js';

const lineSafe = fc.string({ maxLength: 20 }).filter((text) => !/[\r\n\0]/.test(text));
const eventArbitrary = fc.record(
  {
    id: fc.nat({ max: 1e9 }).map(String),
    event: lineSafe.filter((text) => text.length > 0),
    data: fc.string({ maxLength: 60 }).map((text) => text.replace(/\r\n?/g, '\n')),
  },
  { requiredKeys: ['id', 'data'] },
);

describe('parseStoredEvents', () => {
  it('gives back the id, event name and data of any encoded events, comments skipped', () => {
    fc.assert(
      fc.property(fc.array(eventArbitrary, { maxLength: 12 }), fc.boolean(), (events, withComment) => {
        const text = events.map((event) => encodeEvent(event)).join(withComment ? encodeComment() : '');
        expect(parseStoredEvents(text)).toEqual(events);
        expect(countStoredEvents(text)).toBe(
          events.length + (withComment ? Math.max(0, events.length - 1) : 0),
        );
      }),
    );
  });

  it('never throws and yields at most one event per block for any text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        expect(parseStoredEvents(text).length).toBeLessThanOrEqual(countStoredEvents(text));
      }),
    );
  });

  it('joins data lines with a line feed and leaves out an unfinished block', () => {
    expect(parseStoredEvents('id: 7\nevent: x\ndata: a\ndata: b\n\nid: 8\ndata: c')).toEqual([
      { id: '7', event: 'x', data: 'a\nb' },
    ]);
  });
});

describe('storedEventsEnd', () => {
  it('ends just past the n-th of any encoded events, and is -1 past the last', () => {
    fc.assert(
      fc.property(fc.array(eventArbitrary, { maxLength: 12 }), fc.nat({ max: 14 }), (events, count) => {
        const encoded = events.map((event) => encodeEvent(event));
        const end = storedEventsEnd(encoded.join(''), count);
        if (count > events.length) expect(end).toBe(-1);
        else expect(end).toBe(encoded.slice(0, count).join('').length);
        expect(countStoredEvents(encoded.join(''))).toBe(events.length);
      }),
    );
  });
});

import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { UpstreamEvent } from './provider.js';
import { SseEventTooLargeError, SseParser } from './sse-parser.js';

const PIECES = [
  'data:',
  'data: ',
  'data',
  'event:',
  'event: ',
  'event',
  'id: 7',
  'retry: 10',
  ':',
  ': ping',
  'x',
  'é',
  '{"a":1}',
  'foo:bar',
  ' ',
  ':',
  '\n',
  '\n',
  '\r',
  '\r\n',
  '\u00ef\u00bb\u00bf',
];

/** What eventsource-parser makes of the chunks (the reference the gateway used before). */
function reference(chunks: readonly string[]): UpstreamEvent[] {
  const events: UpstreamEvent[] = [];
  const parser = createParser({ onEvent: (event) => events.push({ data: event.data, event: event.event }) });
  for (const chunk of chunks) parser.feed(chunk);
  return events;
}

function parse(chunks: readonly string[]): UpstreamEvent[] {
  const events: UpstreamEvent[] = [];
  const parser = new SseParser();
  for (const chunk of chunks) parser.feed(chunk, events);
  return events;
}

/** Cuts `text` at the given offsets. */
function split(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b);
  const chunks: string[] = [];
  let previous = 0;
  for (const point of points) {
    chunks.push(text.slice(previous, point));
    previous = point;
  }
  chunks.push(text.slice(previous));
  return chunks;
}

describe('SseParser', () => {
  it('parses data lines, event types and multi-line data, and ignores comments, ids and retries', () => {
    const events = parse([
      ': ping\n\nid: 1\nevent: delta\ndata: {"a":1}\n\ndata: one\r\ndata:two\r\rretry: 5\ndata\n\n',
    ]);
    expect(events).toEqual([
      { data: '{"a":1}', event: 'delta' },
      { data: 'one\ntwo', event: undefined },
      { data: '', event: undefined },
    ]);
  });

  it('yields the same events as eventsource-parser for any input cut into any chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...PIECES), { maxLength: 60 }),
        fc.array(fc.nat(400), { maxLength: 8 }),
        (pieces, cuts) => {
          const chunks = split(pieces.join(''), cuts);
          expect(parse(chunks)).toEqual(reference(chunks));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('dispatches an event whose blank line is a CR at the very end of the stream', () => {
    const parser = new SseParser();
    const events: UpstreamEvent[] = [];
    parser.feed('data: last\r\r', events);
    expect(events).toEqual([]);
    parser.end(events);
    expect(events).toEqual([{ data: 'last', event: undefined }]);
  });

  it('dispatches an event whose blank line is a CR held at a chunk’s end, when the stream ends in the next line', () => {
    const parser = new SseParser();
    const events: UpstreamEvent[] = [];
    parser.feed('data: cut\r\r', events);
    // The next event, cut before its first line ends (found by the native readers' property test).
    parser.feed('ev', events);
    parser.end(events);
    expect(events).toEqual([{ data: 'cut', event: undefined }]);
  });

  it('throws once an event holds more than its bound, whatever the split, and never below it', () => {
    const bound = 100;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 * bound }),
        fc.boolean(),
        fc.array(fc.nat(400), { maxLength: 8 }),
        (size, twoLines, cuts) => {
          const half = 'x'.repeat(Math.floor(size / 2));
          // Two data lines hold both halves and the newline between them.
          const body = twoLines
            ? `: hi\ndata: ${half}\ndata: ${'x'.repeat(size - half.length - 1)}\n\n`
            : `: hi\ndata: ${'x'.repeat(size)}\n\n`;
          const parser = new SseParser(bound);
          const events: UpstreamEvent[] = [];
          const feedAll = () => {
            for (const chunk of split(body, cuts)) parser.feed(chunk, events);
          };
          // A line is held with its `data: ` prefix until it ends: up to 6 more characters.
          if (size > bound + 6) expect(feedAll).toThrow(SseEventTooLargeError);
          else if (size <= bound - 6) {
            feedAll();
            expect(events).toHaveLength(1);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { UpstreamEvent } from './provider.js';
import { SseParser } from './sse-parser.js';

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
});

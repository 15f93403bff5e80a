import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseSplicer } from './sse-splicer.js';

interface ModelEvent {
  id: number;
  event: string | undefined;
  data: string;
}

/** The server's bytes for one event, in one of the spellings SSE allows. */
function rawEvent(event: ModelEvent, eol: string, spaced: boolean, eventFirst: boolean): string {
  // One space after the colon is not part of the value (WHATWG SSE §9.2.6), so a value starting with
  // a space needs it even in the unspaced spelling.
  const field = (name: string, value: string) =>
    `${name}:${spaced || value.startsWith(' ') ? ' ' : ''}${value}${eol}`;
  const lines = [field('id', String(event.id))];
  if (event.event !== undefined) lines[eventFirst ? 'unshift' : 'push'](field('event', event.event));
  for (const line of event.data.split('\n')) lines.push(field('data', line));
  return lines.join('') + eol;
}

/** What the server sends to a request resuming after `lastEventId` (everything when undefined). */
function serverBody(
  events: readonly string[],
  ids: readonly number[],
  lastEventId: string | undefined,
  eol: string,
) {
  const after = lastEventId === undefined ? Number.NEGATIVE_INFINITY : Number(lastEventId);
  return `retry: 1000${eol}${eol}${events.filter((_, index) => ids[index]! > after).join('')}`;
}

/** Cuts `text` at the given fractions of its length. */
function chunked(text: string, fractions: readonly number[]): string[] {
  const points = [...new Set(fractions.map((fraction) => Math.floor(fraction * text.length)))].sort(
    (a, b) => a - b,
  );
  const chunks: string[] = [];
  let previous = 0;
  for (const point of points) {
    chunks.push(text.slice(previous, point));
    previous = point;
  }
  chunks.push(text.slice(previous));
  return chunks;
}

function parseAll(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  parser.feed(text);
  return events;
}

const lineArbitrary = fc.string({
  unit: fc.constantFrom('a', 'é', ' ', ':', '{', '"', '😀', 'data: x', 'id'),
});
const eventArbitrary = fc.record({
  event: fc.constantFrom(undefined, 'message_start', 'content_block_delta', 'response.output_text.delta'),
  data: fc.array(lineArbitrary, { minLength: 1, maxLength: 3 }).map((lines) => lines.join('\n')),
});

describe('SseSplicer', () => {
  it('hands over identical events for any chunking and any cut points, resuming after the last whole event', () => {
    fc.assert(
      fc.property(
        fc.array(eventArbitrary, { minLength: 1, maxLength: 12 }),
        fc.constantFrom(0, 1),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: 5 }),
        fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), {
          minLength: 6,
          maxLength: 6,
        }),
        (shapes, firstId, eol, spaced, eventFirst, cuts, chunkings) => {
          const model = shapes.map((shape, index) => ({ ...shape, id: firstId + index }));
          const ids = model.map((event) => event.id);
          const raw = model.map((event) => rawEvent(event, eol, spaced, eventFirst));

          const whole = new SseSplicer();
          whole.beginConnection();
          const uncut = whole.feed(serverBody(raw, ids, undefined, eol)) + whole.feed('');

          const splicer = new SseSplicer();
          let output = '';
          for (const [index, cut] of [...cuts, 1].entries()) {
            splicer.beginConnection();
            const body = serverBody(raw, ids, splicer.lastEventId, eol);
            const delivered = body.slice(0, Math.floor(cut * body.length));
            for (const chunk of chunked(delivered, chunkings[index]!)) {
              output += splicer.feed(chunk);
            }
          }
          // A lone CR at the very end may still be the first half of a CRLF: the next byte settles it.
          output += splicer.feed(eol === '\r' ? '\n' : '');
          const reference = uncut + (eol === '\r' ? whole.feed('\n') : '');

          expect(output).toBe(reference);
          expect(parseAll(output).map(({ id, event, data }) => ({ id: Number(id), event, data }))).toEqual(
            model,
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  it('holds back an incomplete trailing event and drops it when its connection breaks', () => {
    const splicer = new SseSplicer();
    splicer.beginConnection();
    expect(
      splicer.feed(
        'id: 1\nevent: message_start\ndata: {"a":1}\n\nid: 2\nevent: content_block_delta\ndata: {"b"',
      ),
    ).toBe('id: 1\nevent: message_start\ndata: {"a":1}\n\n');
    expect(splicer.lastEventId).toBe('1');
    splicer.beginConnection();
    expect(
      splicer.feed(
        'retry: 1000\n\nid: 1\ndata: again\n\nid: 2\nevent: content_block_delta\ndata: {"b":2}\ndata: more\n\n',
      ),
    ).toBe('retry: 1000\n\nid: 2\nevent: content_block_delta\ndata: {"b":2}\ndata: more\n\n');
    expect(splicer.finished).toBe(false);
  });

  it('knows a stream is complete at [DONE], message_stop, response.completed or an error event', () => {
    for (const terminal of [
      'data: [DONE]\n\n',
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
      'event: response.completed\ndata: {}\n\n',
      'data: {"error":{"message":"boom"}}\n\n',
    ]) {
      const splicer = new SseSplicer();
      splicer.beginConnection();
      splicer.feed('data: {"x":1}\n\n');
      expect(splicer.finished).toBe(false);
      splicer.feed(terminal);
      expect(splicer.finished, terminal).toBe(true);
    }
  });

  it('fails with event_too_large instead of buffering an endless event', () => {
    const splicer = new SseSplicer({ maxEventLength: 100 });
    splicer.beginConnection();
    expect(() => splicer.feed(`data: ${'x'.repeat(200)}`)).toThrow(
      expect.objectContaining({ code: 'event_too_large' }),
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../errors.js';
import { ChatChunkShape } from './chat-chunk-shape.js';
import { normalizeChatEvent } from './normalize-chat-events.js';

const BEFORE =
  '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":';
const AFTER = '},"finish_reason":null}]}';
/** A text chunk whose text is the raw JSON `literal` (quotes included). */
const chunk = (literal: string) => `${BEFORE}${literal}${AFTER}`;

/** A shape learned from a chunk with the text "Hello". */
function learned(): ChatChunkShape {
  const shape = new ChatChunkShape();
  const data = chunk('"Hello"');
  shape.learn(data, JSON.parse(data));
  return shape;
}

describe('ChatChunkShape', () => {
  it('matches a chunk of the learned shape with any other JSON string as its text', () => {
    const shape = learned();
    for (const literal of ['" world"', '""', '"a\\"b\\\\c\\/\\n\\u00e9\\uD83D\\uDE00"', '"ünïcødé ✓"'])
      expect(shape.matches(chunk(literal))).toBe(true);
  });

  it('does not match text that is not a JSON string body (bare quote, control character, bad escape)', () => {
    const shape = learned();
    for (const literal of [
      '"a"b"',
      '"a\nb"',
      '"a\\x"',
      '"a\\u12"',
      '"a\\u12g4"',
      '"a\\"',
      '"x","role":"assistant"',
      '"x"},"finish_reason":"stop"}],"error":{"message":"boom"},"z":{"a":"',
    ]) {
      expect(shape.matches(chunk(literal))).toBe(false);
    }
  });

  it('does not match a chunk whose other bytes differ', () => {
    const shape = learned();
    expect(shape.matches(chunk('"x"').replace('"c1"', '"c2"'))).toBe(false);
    expect(shape.matches(`${chunk('"x"')} `)).toBe(false);
    expect(shape.matches(chunk('"x"').replace('"finish_reason":null', '"finish_reason":"stop"'))).toBe(false);
  });

  it('learns nothing from a chunk without text, and only from choices[0].delta.content', () => {
    const roleOnly = new ChatChunkShape();
    const opening = '{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}';
    roleOnly.learn(opening, JSON.parse(opening));
    expect(roleOnly.matches(opening)).toBe(false);

    // The first "content" in the bytes is another field's: its string is no template for the text.
    const elsewhere = new ChatChunkShape();
    const data = '{"meta":{"content":"a"},"choices":[{"index":0,"delta":{"content":"b"}}]}';
    elsewhere.learn(data, JSON.parse(data));
    expect(elsewhere.matches(data.replace('"a"', '"zz"'))).toBe(false);
    expect(elsewhere.matches(data)).toBe(false);
  });

  it('whatever the bytes put in the text, a chunk it matches parses to the learned chunk with another string (property)', () => {
    const shape = learned();
    const template = JSON.parse(chunk('"Hello"'));
    const middle = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', '"', '\\', 'u', '0', 'F', '\n', '\u0001', 'é', '}', ',', ':') }),
      fc.string().map((text) => JSON.stringify(text).slice(1, -1)),
    );
    fc.assert(
      fc.property(middle, (raw) => {
        const data = chunk(`"${raw}"`);
        if (!shape.matches(data)) return;
        const parsed = JSON.parse(data);
        expect(typeof parsed.choices[0].delta.content).toBe('string');
        parsed.choices[0].delta.content = 'Hello';
        expect(parsed).toEqual(template);
      }),
    );
  });

  it('through the normalizer, relays what the stateless normalizer relays and refuses what it refuses', () => {
    const shape = new ChatChunkShape();
    const stream = [
      '{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}',
      chunk('"Hello"'),
      chunk('" there"'),
      chunk('"bad\nline"'),
      chunk('"unterminated'),
      chunk('"x","error":{"message":"m"}'),
    ];
    const outcomes = stream.map((data) => {
      const withShape = normalizeChatEvent({ data }, 'up', shape);
      const without = normalizeChatEvent({ data }, 'up');
      return [
        withShape instanceof UpstreamError ? withShape.code : withShape,
        without instanceof UpstreamError ? without.code : without,
      ];
    });
    for (const [withShape, without] of outcomes) expect(withShape).toEqual(without);
    expect(outcomes.slice(3, 5).map(([code]) => code)).toEqual([
      'upstream_protocol_error',
      'upstream_protocol_error',
    ]);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { exceedsJsonDepth } from './json-depth.js';
import { parseJsonObject } from './parse-json-object.js';

/** The nesting depth of a parsed value, as JSON counts it (a scalar is 0). */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depthOf));
}

describe('exceedsJsonDepth', () => {
  it('agrees with the depth of the parsed value, brackets and escaped quotes in strings included', () => {
    const tricky = fc.constantFrom('[', ']', '{', '}', '"', '\\', '\\"', '"[', 'é', '💥');
    const text = fc.array(fc.oneof(tricky, fc.string()), { maxLength: 4 }).map((parts) => parts.join(''));
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.integer(),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(text, tie('node'), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 8 }), (parsed, maxDepth) => {
        const bytes = Buffer.from(JSON.stringify(parsed));
        expect(exceedsJsonDepth(bytes, maxDepth)).toBe(depthOf(parsed) > maxDepth);
      }),
    );
  });
});

describe('parseJsonObject', () => {
  it('refuses JSON nested deeper than the bound with a 400 that names no param', () => {
    const deep = Buffer.from(`${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`);
    const error = (() => {
      try {
        parseJsonObject(deep, 128);
      } catch (caught) {
        return caught as GatewayError;
      }
    })();
    expect(error).toBeInstanceOf(GatewayError);
    expect([error?.status, error?.code, error?.body.error.param]).toEqual([400, 'invalid_request', null]);
  });

  it('refuses text that is not JSON with invalid_json, and parses what is', () => {
    expect(() => parseJsonObject(Buffer.from('{"a":'), 128)).toThrow(/could not parse/);
    expect(parseJsonObject(Buffer.from('{"a":[1,{"b":"]]"}]}'), 3)).toEqual({ a: [1, { b: ']]' }] });
  });
});

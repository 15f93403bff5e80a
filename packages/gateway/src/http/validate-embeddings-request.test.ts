import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { estimateEmbeddingTokens } from '../limits/estimate-tokens.js';
import { simEmbeddings } from '../sim/sim-embeddings.js';
import {
  embeddingInputs,
  MAX_EMBEDDING_INPUTS,
  parseEmbeddingsRequest,
} from './validate-embeddings-request.js';

const parse = (body: unknown) => parseEmbeddingsRequest(Buffer.from(JSON.stringify(body)));

function paramOf(body: unknown): string | null | undefined {
  try {
    parse(body);
    return undefined;
  } catch (error) {
    return (error as GatewayError).body.error.param;
  }
}

describe('parseEmbeddingsRequest', () => {
  it('accepts each of OpenAI input shapes and passes other fields through', () => {
    for (const input of ['text', ['a', 'b'], [1, 2, 3], [[1], [2, 3]]]) {
      expect(parse({ model: 'm', input, user: 'u', extra: true })).toMatchObject({ input, extra: true });
    }
    expect(embeddingInputs('x')).toEqual(['x']);
    expect(embeddingInputs([1, 2])).toEqual([[1, 2]]);
    expect(embeddingInputs([[1], [2]])).toEqual([[1], [2]]);
  });

  it('names the bad param of each malformed body', () => {
    expect(paramOf({ input: 'x' })).toBe('model');
    expect(paramOf({ model: 'm' })).toBe('input');
    expect(paramOf({ model: 'm', input: '' })).toBe('input');
    expect(paramOf({ model: 'm', input: [] })).toBe('input');
    expect(paramOf({ model: 'm', input: ['a', ''] })).toBe('input[1]');
    expect(paramOf({ model: 'm', input: [[1], [-1]] })).toBe('input[1]');
    expect(paramOf({ model: 'm', input: ['a', [1]] })).toBe('input');
    expect(paramOf({ model: 'm', input: Array(MAX_EMBEDDING_INPUTS + 1).fill('a') })).toBe('input');
    expect(paramOf({ model: 'm', input: 'x', encoding_format: 'hex' })).toBe('encoding_format');
    expect(paramOf({ model: 'm', input: 'x', dimensions: 0 })).toBe('dimensions');
    expect(() => parseEmbeddingsRequest(Buffer.from('{'))).toThrow(/parse the JSON/);
  });

  it('answers any JSON value with a parsed request or a 400, never another error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ model: fc.jsonValue(), input: fc.jsonValue() }, { requiredKeys: [] }),
          fc.record({
            model: fc.string({ minLength: 1 }),
            input: fc.oneof(
              fc.string(),
              fc.array(fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer()))),
            ),
            dimensions: fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
          }),
        ),
        (body) => {
          try {
            const request = parse(body);
            // What is accepted, the sim can answer, and the estimate counts.
            const answer = simEmbeddings(request);
            expect(answer.data).toHaveLength(embeddingInputs(request.input).length);
            expect(estimateEmbeddingTokens(request.input)).toBeGreaterThanOrEqual(0);
          } catch (error) {
            expect(error).toBeInstanceOf(GatewayError);
            expect((error as GatewayError).status).toBe(400);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

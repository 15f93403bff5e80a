import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readJsonBody } from './read-json-body.js';

/** A body of the given chunks that records whether it was destroyed. */
function body(chunks: readonly Buffer[]) {
  return {
    destroyed: false,
    destroy() {
      this.destroyed = true;
    },
    async *[Symbol.asyncIterator]() {
      for (const chunk of chunks) yield chunk;
    },
  };
}

describe('readJsonBody', () => {
  it('parses any JSON cut into any chunks within the bound, and destroys a body past it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.json(),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.nat(400),
        async (json, cuts, bound) => {
          const bytes = Buffer.from(json, 'utf8');
          const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks = [...points, bytes.length].map((end, index) =>
            bytes.subarray(index === 0 ? 0 : points[index - 1], end),
          );
          const source = body(chunks);
          if (bytes.length <= bound) {
            expect(await readJsonBody(source, bound, 'up')).toEqual(JSON.parse(json));
            expect(source.destroyed).toBe(false);
          } else {
            await expect(readJsonBody(source, bound, 'up')).rejects.toMatchObject({
              code: 'generation_limit_exceeded',
              status: 502,
            });
            expect(source.destroyed).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

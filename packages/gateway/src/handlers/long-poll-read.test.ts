import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { isLongPollRead, parseLongPollQuery } from './long-poll-read.js';

describe('parseLongPollQuery', () => {
  it('accepts any value or refuses it with a 400 naming its parameter, and keeps wait within the cap', () => {
    fc.assert(
      fc.property(
        fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.nat().map(String)), { nil: undefined }),
        fc.option(
          fc.oneof(fc.string({ maxLength: 12 }), fc.double({ min: 0, max: 1e7, noNaN: true }).map(String)),
          {
            nil: undefined,
          },
        ),
        fc.nat({ max: 120_000 }),
        (after, wait, maxWaitMs) => {
          const query = new URLSearchParams();
          if (after !== undefined) query.set('after', after);
          if (wait !== undefined) query.set('wait', wait);
          try {
            const parsed = parseLongPollQuery(query, maxWaitMs);
            expect(Number.isSafeInteger(parsed.afterId) && parsed.afterId >= 0).toBe(true);
            expect(parsed.waitMs).toBeGreaterThanOrEqual(0);
            expect(parsed.waitMs).toBeLessThanOrEqual(maxWaitMs);
          } catch (error) {
            expect(error).toBeInstanceOf(GatewayError);
            expect((error as GatewayError).status).toBe(400);
            expect(['after', 'wait']).toContain((error as GatewayError).body.error.param);
          }
        },
      ),
    );
  });

  it('reads seconds with decimals and defaults to an immediate answer from the start', () => {
    expect(parseLongPollQuery(new URLSearchParams('after=12&wait=1.5'), 25_000)).toEqual({
      afterId: 12,
      waitMs: 1500,
    });
    expect(parseLongPollQuery(new URLSearchParams('after=3'), 25_000)).toEqual({ afterId: 3, waitMs: 0 });
    expect(parseLongPollQuery(new URLSearchParams('wait=90'), 25_000)).toEqual({
      afterId: 0,
      waitMs: 25_000,
    });
  });

  it('tells a long-poll read from an SSE read by its query', () => {
    expect(isLongPollRead(new URLSearchParams('after=0'))).toBe(true);
    expect(isLongPollRead(new URLSearchParams('wait=5'))).toBe(true);
    expect(isLongPollRead(new URLSearchParams('last_event_id=3'))).toBe(false);
  });
});

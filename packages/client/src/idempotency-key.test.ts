import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newIdempotencyKey } from './idempotency-key.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newIdempotencyKey', () => {
  it('uses randomUUID where the context has it', () => {
    expect(newIdempotencyKey({ randomUUID: () => '11111111-1111-4111-8111-111111111111' })).toBe(
      '11111111-1111-4111-8111-111111111111',
    );
  });

  it('builds a v4 UUID from getRandomValues outside secure contexts', () => {
    const keys = new Set(
      Array.from({ length: 100 }, () =>
        newIdempotencyKey({
          getRandomValues: webcrypto.getRandomValues.bind(webcrypto) as Crypto['getRandomValues'],
        }),
      ),
    );
    expect(keys.size).toBe(100);
    for (const key of keys) expect(key).toMatch(UUID_V4);
  });

  it('still produces unique keys with no Web Crypto at all (React Native without a polyfill)', () => {
    const keys = new Set(Array.from({ length: 100 }, () => newIdempotencyKey({})));
    expect(keys.size).toBe(100);
    for (const key of keys) expect(key).toMatch(UUID_V4);
  });
});

import { describe, expect, it } from 'vitest';
import { randomToken } from './ids.js';

describe('randomToken', () => {
  it('gives ids of the asked size that never repeat, across pool refills', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 2000; index++) {
      const token = randomToken(18, 'base64url');
      expect(token).toMatch(/^[\w-]{24}$/);
      seen.add(token);
    }
    expect(seen.size).toBe(2000);
    expect(randomToken(12, 'hex')).toMatch(/^[0-9a-f]{24}$/);
  });

  it('refuses more bytes than its pool holds', () => {
    expect(() => randomToken(5000, 'hex')).toThrow(RangeError);
  });
});

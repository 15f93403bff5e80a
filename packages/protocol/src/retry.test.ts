import { describe, expect, it } from 'vitest';
import { backoffDelayMs, DEFAULT_BACKOFF } from './backoff.js';
import { isRetryableStatus, parseRetryAfter } from './retry-after.js';

const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] ?? null });

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter(headers({ 'retry-after': '2' }), now)).toBe(2000);
    expect(parseRetryAfter(headers({ 'retry-after': ' 1.5 ' }), now)).toBe(1500);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    expect(parseRetryAfter(headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }), now)).toBe(7000);
    expect(parseRetryAfter(headers({ 'retry-after': 'Tue, 31 Dec 2024 23:00:00 GMT' }), now)).toBe(0);
  });

  it('prefers retry-after-ms', () => {
    expect(parseRetryAfter(headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
  });

  it('ignores absent and garbage values', () => {
    expect(parseRetryAfter(headers({}), now)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after-ms': 'x', 'retry-after': '1' }), now)).toBe(1000);
  });
});

describe('isRetryableStatus', () => {
  it('retries 408, 409, 429 and 5xx; not 400, 401, 403, 404, 410, 422', () => {
    for (const status of [408, 409, 429, 500, 502, 503, 504]) expect(isRetryableStatus(status)).toBe(true);
    for (const status of [400, 401, 403, 404, 410, 413, 422]) expect(isRetryableStatus(status)).toBe(false);
  });
});

describe('backoffDelayMs', () => {
  it('doubles from initialDelayMs up to maxDelayMs without jitter', () => {
    const options = { ...DEFAULT_BACKOFF, jitter: 'none' as const, maxDelayMs: 5_000 };
    const sequence = [1, 2, 3, 4, 5, 6, 7].map((attempt) => backoffDelayMs(attempt, options, () => 0.5));
    expect(sequence).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it('spreads full jitter over [0, ceiling] and equal jitter over [ceiling/2, ceiling]', () => {
    const options = DEFAULT_BACKOFF;
    expect(backoffDelayMs(3, options, () => 0)).toBe(0);
    expect(backoffDelayMs(3, options, () => 0.999999)).toBe(2000);
    expect(backoffDelayMs(3, options, () => 0.25)).toBe(500);
    const equal = { ...DEFAULT_BACKOFF, jitter: 'equal' as const };
    expect(backoffDelayMs(3, equal, () => 0)).toBe(1000);
    expect(backoffDelayMs(3, equal, () => 0.5)).toBe(1500);
  });
});

import { describe, expect, it } from 'vitest';
import { normalizeRetryOptions, retryDelayMs } from './retry-policy.js';

describe('normalizeRetryOptions', () => {
  it('holds the documented defaults', () => {
    expect(normalizeRetryOptions(undefined)).toEqual({
      initialDelayMs: 500,
      maxDelayMs: 30_000,
      multiplier: 2,
      jitter: 'full',
      maxAttempts: 8,
      maxElapsedMs: 120_000,
    });
  });

  it('reads a number as maxAttempts and false as no retries', () => {
    expect(normalizeRetryOptions(3).maxAttempts).toBe(3);
    expect(normalizeRetryOptions(false).maxAttempts).toBe(0);
    expect(normalizeRetryOptions(true)).toEqual(normalizeRetryOptions(undefined));
  });

  it('overrides only the fields given, ignoring undefined ones', () => {
    const options = normalizeRetryOptions({ initialDelayMs: 10, maxDelayMs: undefined });
    expect(options.initialDelayMs).toBe(10);
    expect(options.maxDelayMs).toBe(30_000);
  });
});

describe('retryDelayMs', () => {
  const options = normalizeRetryOptions({ jitter: 'none' });

  it('uses Retry-After as is, even beyond maxDelayMs', () => {
    expect(retryDelayMs(1, options, { retryAfterMs: 45_000 }, () => 0)).toBe(45_000);
  });

  it('never reconnects sooner than the stream asked with retry:', () => {
    expect(retryDelayMs(1, options, { serverRetryMs: 3_000 }, () => 0)).toBe(3_000);
    expect(retryDelayMs(5, options, { serverRetryMs: 3_000 }, () => 0)).toBe(8_000);
    expect(retryDelayMs(1, options, { serverRetryMs: 90_000 }, () => 0)).toBe(30_000);
  });
});

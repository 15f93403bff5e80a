import { describe, expect, it } from 'vitest';
import {
  isRetryableAnswer,
  isRetryableStatus,
  isTransientStreamError,
  parseRetryAfter,
} from './retry-signals.js';

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

describe('error classification', () => {
  it('retries 408, 409, 429 and 5xx; not 400, 401, 403, 404, 410, 422', () => {
    for (const status of [408, 409, 429, 500, 502, 503, 504]) expect(isRetryableStatus(status)).toBe(true);
    for (const status of [400, 401, 403, 404, 410, 413, 422]) expect(isRetryableStatus(status)).toBe(false);
  });

  it('does not retry upstream_unreachable: the gateway already retried and failed over', () => {
    expect(isRetryableAnswer(502, 'upstream_unreachable')).toBe(false);
    expect(isRetryableAnswer(502, 'upstream_error')).toBe(true);
    expect(isRetryableAnswer(503, null)).toBe(true);
    expect(isRetryableAnswer(400, null)).toBe(false);
  });

  it('treats only clearly transient mid-stream errors as transient', () => {
    const body = (code: string | null, type = 'server_error') => ({
      error: { message: 'x', type, code, param: null },
    });
    expect(isTransientStreamError(body('shutting_down'))).toBe(true);
    expect(isTransientStreamError(body('upstream_timeout'))).toBe(true);
    expect(isTransientStreamError(body(null, 'overloaded_error'))).toBe(true);
    expect(isTransientStreamError(body('content_filter', 'invalid_request_error'))).toBe(false);
    expect(isTransientStreamError(body('upstream_error', 'api_error'))).toBe(false);
    expect(isTransientStreamError('boom')).toBe(false);
  });
});

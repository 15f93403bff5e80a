import { describe, expect, it } from 'vitest';
import { isRetryableAnswer, isTransientStreamError } from './retry-signals.js';

describe('error classification', () => {
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

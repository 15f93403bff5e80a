import { describe, expect, it } from 'vitest';
import { errorBody, isErrorBody, normalizeErrorBody, statusForCode } from './errors.js';

describe('error bodies', () => {
  it("builds OpenAI's shape with the status of each code", () => {
    expect(errorBody('model_not_found', 'nope', 'model')).toEqual({
      error: { message: 'nope', type: 'invalid_request_error', code: 'model_not_found', param: 'model' },
    });
    expect(statusForCode('idempotency_key_reused')).toBe(422);
    expect(statusForCode('stream_expired')).toBe(410);
    expect(statusForCode('upstream_timeout')).toBe(504);
  });

  it.each([
    [
      { error: { message: 'm', type: 't', code: 'c', param: 'p' } },
      { message: 'm', type: 't', code: 'c', param: 'p' },
    ],
    [
      { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
      { message: 'Overloaded', type: 'overloaded_error', code: null, param: null },
    ],
    [
      { detail: 'Not Found' },
      { message: 'Not Found', type: 'invalid_request_error', code: null, param: null },
    ],
    [
      { error: 'plain string' },
      { message: 'plain string', type: 'invalid_request_error', code: null, param: null },
    ],
    [
      '<html>bad gateway</html>',
      { message: '<html>bad gateway</html>', type: 'invalid_request_error', code: null, param: null },
    ],
    [null, { message: 'fallback', type: 'invalid_request_error', code: null, param: null }],
  ])('normalizes upstream body %j', (raw, expected) => {
    expect(normalizeErrorBody(404, raw, 'fallback').error).toEqual(expected);
  });

  it('recognizes an error body and nothing else', () => {
    expect(isErrorBody({ error: { message: 'x' } })).toBe(true);
    expect(isErrorBody({ choices: [] })).toBe(false);
    expect(isErrorBody('error')).toBe(false);
  });
});

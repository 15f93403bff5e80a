import { describe, expect, it } from 'vitest';
import { startsWithErrorKey, upstreamEventError } from './upstream-event-error.js';

const FALLBACK = 'The upstream sent an error.';
const read = (data: unknown) => {
  const error = upstreamEventError(typeof data === 'string' ? data : JSON.stringify(data), FALLBACK);
  return { status: error.status, ...error.body.error };
};

describe('upstreamEventError: an upstream error event as the gateway error', () => {
  it('reads each API’s shape into OpenAI’s, with the upstream’s message and code', () => {
    expect(read({ error: { message: 'boom', type: 'server_error', code: 'x', param: 'p' } })).toEqual({
      status: 502,
      message: 'boom',
      type: 'server_error',
      code: 'x',
      param: 'p',
    });
    expect(read({ type: 'error', error: { type: 'api_error', message: 'Internal' } })).toMatchObject({
      status: 502,
      message: 'Internal',
      type: 'api_error',
    });
    // Responses' error event is flat: its `type` is the event's.
    expect(
      read({ type: 'error', code: 'server_error', message: 'm', param: null, sequence_number: 4 }),
    ).toEqual({ status: 502, message: 'm', type: 'server_error', code: 'server_error', param: null });
    expect(
      read({
        type: 'response.failed',
        response: { error: { code: 'rate_limit_exceeded', message: 'slow' } },
      }),
    ).toMatchObject({ status: 429, message: 'slow', code: 'rate_limit_exceeded' });
    expect(read({ error: 'a string' })).toMatchObject({ status: 502, message: 'a string' });
    expect(read('upstream text, not JSON')).toMatchObject({
      status: 502,
      message: 'upstream text, not JSON',
    });
  });

  it('answers an overload 503 and a rate limit 429, as the same errors sent as HTTP are', () => {
    expect(read({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }).status).toBe(
      503,
    );
    expect(read({ type: 'error', error: { type: 'rate_limit_error', message: 'm' } }).status).toBe(429);
    expect(read({ error: { code: 429, message: 'Quota', status: 'RESOURCE_EXHAUSTED' } })).toMatchObject({
      status: 429,
      code: '429',
    });
    expect(read({ error: { code: 529, message: 'Overloaded' } }).status).toBe(503);
    // A type that names an Object member is no status.
    expect(read({ error: { type: 'constructor', code: 'toString', message: 'm' } }).status).toBe(502);
  });

  it('is Spool’s upstream_error with the fallback message when the upstream said nothing', () => {
    for (const data of ['', '{}', '{"type":"response.failed","response":{}}', '{"error":{}}']) {
      expect(read(data), data).toEqual({
        status: 502,
        message: FALLBACK,
        type: 'api_error',
        code: 'upstream_error',
        param: null,
      });
    }
  });
});

describe('startsWithErrorKey', () => {
  it('spots data whose first key is error, and nothing else', () => {
    expect(startsWithErrorKey('{"error":{"message":"m"}}')).toBe(true);
    expect(startsWithErrorKey(' { "error" : null}')).toBe(true);
    expect(startsWithErrorKey('{"id":"c","error":{}}')).toBe(false);
    expect(startsWithErrorKey('{"choices":[{"delta":{"content":"\\"error\\":"}}]}')).toBe(false);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../errors.js';
import { anthropicErrorBody, anthropicStatus } from './anthropic-errors.js';
import { countTokensRequestSchema, parseMessagesRequest } from './messages-schema.js';

const parse = (body: unknown, schema?: typeof countTokensRequestSchema) =>
  parseMessagesRequest(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), 128, schema);

function paramOfFailure(body: unknown): string | null {
  try {
    parse(body);
  } catch (error) {
    if (error instanceof GatewayError) return error.body.error.param;
    throw error;
  }
  return 'accepted';
}

const valid = { model: 'sim-1', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };

describe('parseMessagesRequest', () => {
  it('keeps unknown fields and block types for a native upstream', () => {
    const body = {
      ...valid,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      future_field: { a: 1 },
      messages: [
        {
          role: 'user',
          content: [{ type: 'document', source: { type: 'text' }, cache_control: { type: 'ephemeral' } }],
        },
      ],
    };
    expect(parse(body)).toEqual(body);
  });

  it('names the param of what is missing or mistyped', () => {
    expect(paramOfFailure({ ...valid, max_tokens: undefined })).toBe('max_tokens');
    expect(paramOfFailure({ ...valid, model: '' })).toBe('model');
    expect(paramOfFailure({ ...valid, messages: [] })).toBe('messages');
    expect(paramOfFailure({ ...valid, messages: [{ role: 'tool', content: 'x' }] })).toBe('messages[0].role');
    expect(paramOfFailure({ ...valid, messages: [{ role: 'user', content: [{ text: 'x' }] }] })).toBe(
      'messages[0].content',
    );
    expect(paramOfFailure({ ...valid, temperature: 3 })).toBe('temperature');
    expect(paramOfFailure({ ...valid, stream: 'yes' })).toBe('stream');
    expect(paramOfFailure([valid])).toBe('body');
    expect(() => parse('{nope')).toThrow(/could not parse the JSON/);
  });

  it('count_tokens takes a request without max_tokens', () => {
    expect(parse({ ...valid, max_tokens: undefined }, countTokensRequestSchema).model).toBe('sim-1');
  });

  it('answers any JSON with a parsed request or a 400, never another error (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ model: fc.jsonValue(), max_tokens: fc.jsonValue(), messages: fc.jsonValue() }),
        ),
        (body) => {
          try {
            parse(body);
          } catch (error) {
            expect(error).toBeInstanceOf(GatewayError);
            expect((error as GatewayError).status).toBe(400);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('Anthropic error shape', () => {
  it.each([
    [400, 400, 'invalid_request_error'],
    [401, 401, 'authentication_error'],
    [403, 403, 'permission_error'],
    [404, 404, 'not_found_error'],
    [413, 413, 'request_too_large'],
    [429, 429, 'rate_limit_error'],
    [500, 500, 'api_error'],
    [502, 502, 'api_error'],
    [503, 529, 'overloaded_error'],
  ])('a gateway %i is answered %i %s', (status, answered, type) => {
    expect(anthropicStatus(status)).toBe(answered);
    const body = anthropicErrorBody(status, { error: { message: 'm', type: 'x', code: 'c', param: 'p' } });
    expect(body).toEqual({ type: 'error', error: { type, message: 'm (code: c, param: p)' } });
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../errors.js';
import { toChatRequest } from '../../translate/responses-to-chat-request.js';
import { inputItems, parseResponsesRequest } from './responses-request.js';

const parse = (body: unknown) => parseResponsesRequest(Buffer.from(JSON.stringify(body)));

describe('parseResponsesRequest', () => {
  it('accepts a string input or items, and names the param of what it refuses', () => {
    expect(parse({ model: 'm', input: 'hi' }).model).toBe('m');
    expect(parse({ model: 'm', previous_response_id: 'resp_x' }).input).toBeUndefined();
    const refused = (body: unknown) => {
      try {
        parse(body);
      } catch (error) {
        return (error as GatewayError).body.error.param;
      }
      return undefined;
    };
    expect(refused({ input: 'x' })).toBe('model');
    expect(refused({ model: 'm' })).toBe('input');
    expect(refused({ model: 'm', input: [1] })).toBe('input[0]');
    expect(refused({ model: 'm', input: 'x', max_output_tokens: 0 })).toBe('max_output_tokens');
    expect(refused({ model: 'm', input: 'x', tools: [{ type: 'function' }] })).toBe('tools[0].name');
    expect(refused({ model: 'm', input: 'x', metadata: { a: 1 } })).toBe('metadata.a');
    expect(refused({ model: 'm', input: 'x', background: true, store: false })).toBe('store');
  });

  it('property: any JSON body is either accepted or refused with a 400 that names a param, and what it accepts translates or is refused with 400', () => {
    const item = fc.oneof(
      fc.record({
        role: fc.constantFrom('user', 'assistant', 'system', 'tool'),
        content: fc.oneof(
          fc.string(),
          fc.array(
            fc.record({
              type: fc.constantFrom('input_text', 'input_image', 'output_text', 'audio'),
              text: fc.string(),
            }),
          ),
        ),
      }),
      fc.record({
        type: fc.constantFrom('function_call', 'function_call_output', 'reasoning', 'web_search_call'),
        call_id: fc.string(),
        name: fc.string(),
        arguments: fc.string(),
        output: fc.string(),
      }),
      fc.jsonValue(),
    );
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          model: fc.oneof(fc.string(), fc.jsonValue()),
          input: fc.oneof(fc.string(), fc.array(item, { maxLength: 5 }), fc.jsonValue()),
          tools: fc.array(fc.record({ type: fc.constantFrom('function', 'web_search'), name: fc.string() }), {
            maxLength: 3,
          }),
          tool_choice: fc.oneof(fc.constantFrom('auto', 'none', 'required'), fc.jsonValue()),
          text: fc.record({
            format: fc.record({ type: fc.constantFrom('text', 'json_object', 'json_schema', 'grammar') }),
          }),
          max_output_tokens: fc.oneof(fc.integer(), fc.jsonValue()),
          temperature: fc.oneof(fc.double(), fc.jsonValue()),
          unknown_field: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(body, (value) => {
        let parsed: ReturnType<typeof parse>;
        try {
          parsed = parse(value);
        } catch (error) {
          expect(error).toBeInstanceOf(GatewayError);
          expect((error as GatewayError).status).toBe(400);
          return;
        }
        try {
          toChatRequest(parsed, inputItems(parsed.input));
        } catch (error) {
          expect(error).toBeInstanceOf(GatewayError);
          expect((error as GatewayError).status).toBe(400);
          expect((error as GatewayError).body.error.param).toEqual(expect.any(String));
        }
        // Lenient translation (accounting for a native upstream) never throws.
        toChatRequest(parsed, inputItems(parsed.input), true);
      }),
      { numRuns: 300 },
    );
  });
});

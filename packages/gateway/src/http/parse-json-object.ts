import { GatewayError } from '../errors.js';

/** How a value's type reads in an error message: `null`, `an array`, `an object`, `a string` … */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Parses a request body that must be a JSON object: 400 `invalid_json` or `invalid_request` otherwise. */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw GatewayError.of(
      'invalid_json',
      `We could not parse the JSON body of your request: ${(error as Error).message}`,
    );
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw GatewayError.of(
      'invalid_request',
      `The request body must be a JSON object, got ${typeName(body)}.`,
      {
        param: 'body',
      },
    );
  }
  return body as Record<string, unknown>;
}

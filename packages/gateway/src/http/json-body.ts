import { GatewayError } from '../errors.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether JSON text nests arrays and objects deeper than `maxDepth`, found in one pass over its
 * bytes (brackets inside strings do not count). Malformed text gives an answer too; `JSON.parse`
 * refuses it afterwards.
 */
export function exceedsJsonDepth(bytes: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index];
    if (inString) {
      if (byte === BACKSLASH) index++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > maxDepth) return true;
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) depth--;
  }
  return false;
}

/**
 * Parses a JSON request body, refusing with 400 one that is not JSON or that nests deeper than
 * `maxDepth`: V8 parses very deep JSON, but serializing it again (to hash it, to send it upstream)
 * overflows the stack.
 */
export function parseJsonBody(raw: Buffer, maxDepth: number): unknown {
  if (exceedsJsonDepth(raw, maxDepth)) {
    throw GatewayError.of(
      'invalid_request',
      `The JSON body nests arrays and objects more than ${maxDepth} levels deep (server.jsonMaxDepth).`,
    );
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw GatewayError.of(
      'invalid_json',
      `We could not parse the JSON body of your request: ${(error as Error).message}`,
    );
  }
}

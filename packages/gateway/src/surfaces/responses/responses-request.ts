import { parseJsonObject, typeName } from '../../http/parse-json-object.js';
import { invalid } from '../../http/validate-chat-request.js';

/** One item of a Responses `input` (messages, function calls and their outputs, and what a native upstream takes). */
export type InputItem = Record<string, unknown>;

/**
 * A `POST /v1/responses` body: the fields the gateway reads are checked; every other field is kept
 * as sent (passed through to a native upstream; a translation refuses what it cannot honour).
 */
export interface ResponsesRequest {
  model: string;
  input?: string | InputItem[];
  instructions?: string | null;
  stream?: boolean | null;
  background?: boolean | null;
  store?: boolean | null;
  previous_response_id?: string | null;
  tools?: Array<Record<string, unknown>>;
  tool_choice?: unknown;
  parallel_tool_calls?: boolean | null;
  max_output_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  text?: { format?: Record<string, unknown> | null; [key: string]: unknown } | null;
  metadata?: Record<string, string> | null;
  user?: string;
  reasoning?: Record<string, unknown> | null;
  [key: string]: unknown;
}

/** Bounds of a request (OpenAI's own where it has one). */
const MAX_INPUT_ITEMS = 10_000;
const MAX_TOOLS = 512;
const MAX_METADATA_KEYS = 16;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optional<T>(
  record: Record<string, unknown>,
  field: string,
  check: (value: unknown) => value is T,
  what: string,
): void {
  const value = record[field];
  if (value !== undefined && value !== null && !check(value))
    throw invalid(`'${field}' must be ${what}, got ${typeName(value)}.`, field);
}

const isBoolean = (value: unknown): value is boolean => typeof value === 'boolean';
const isString = (value: unknown): value is string => typeof value === 'string';
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isPositiveInteger = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value > 0;

/**
 * Parses and checks a Responses body: each error names its `param`, as OpenAI's do.
 * @throws GatewayError 400 (`invalid_json`, `invalid_request`).
 */
export function parseResponsesRequest(raw: Buffer): ResponsesRequest {
  const record = parseJsonObject(raw);
  if (record.model === undefined) throw invalid("Missing required parameter: 'model'.", 'model');
  if (typeof record.model !== 'string' || record.model.trim() === '')
    throw invalid(`'model' must be a non-empty string, got ${typeName(record.model)}.`, 'model');
  const input = record.input;
  if (input === undefined || input === null) {
    if (record.previous_response_id == null) throw invalid("Missing required parameter: 'input'.", 'input');
  } else if (Array.isArray(input)) {
    if (input.length > MAX_INPUT_ITEMS)
      throw invalid(`'input' may hold at most ${MAX_INPUT_ITEMS} items, got ${input.length}.`, 'input');
    input.forEach((item: unknown, index) => {
      if (!isObject(item))
        throw invalid(`'input[${index}]' must be an object, got ${typeName(item)}.`, `input[${index}]`);
      if (item.type !== undefined && typeof item.type !== 'string')
        throw invalid(`'input[${index}].type' must be a string.`, `input[${index}].type`);
      if (item.type === undefined && typeof item.role !== 'string')
        throw invalid(`'input[${index}]' needs a 'type' or a 'role'.`, `input[${index}]`);
    });
  } else if (typeof input !== 'string') {
    throw invalid(`'input' must be a string or an array of items, got ${typeName(input)}.`, 'input');
  }
  for (const field of ['stream', 'background', 'store', 'parallel_tool_calls'])
    optional(record, field, isBoolean, 'a boolean');
  for (const field of ['instructions', 'previous_response_id', 'user'])
    optional(record, field, isString, 'a string');
  optional(record, 'max_output_tokens', isPositiveInteger, 'a positive integer');
  optional(record, 'temperature', isNumber, 'a number');
  optional(record, 'top_p', isNumber, 'a number');
  for (const field of ['text', 'reasoning', 'metadata']) optional(record, field, isObject, 'an object');
  if (record.tools !== undefined && record.tools !== null) {
    if (!Array.isArray(record.tools))
      throw invalid(`'tools' must be an array, got ${typeName(record.tools)}.`, 'tools');
    if (record.tools.length > MAX_TOOLS)
      throw invalid(`'tools' may hold at most ${MAX_TOOLS} tools.`, 'tools');
    record.tools.forEach((tool: unknown, index) => {
      if (!isObject(tool) || typeof tool.type !== 'string')
        throw invalid(`'tools[${index}]' must be an object with a 'type'.`, `tools[${index}]`);
      if (tool.type === 'function' && typeof tool.name !== 'string')
        throw invalid(`'tools[${index}].name' must be a string.`, `tools[${index}].name`);
    });
  }
  if (isObject(record.metadata)) {
    const entries = Object.entries(record.metadata);
    if (entries.length > MAX_METADATA_KEYS)
      throw invalid(`'metadata' may hold at most ${MAX_METADATA_KEYS} keys.`, 'metadata');
    for (const [key, value] of entries)
      if (typeof value !== 'string') throw invalid(`'metadata.${key}' must be a string.`, `metadata.${key}`);
  }
  if (record.background === true && record.store === false)
    throw invalid(
      "'background' requires 'store' (a background response must be kept to be fetched).",
      'store',
    );
  return record as ResponsesRequest;
}

/** The request's input as a list of items (a string is one user message). */
export function inputItems(input: ResponsesRequest['input']): InputItem[] {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return input;
}

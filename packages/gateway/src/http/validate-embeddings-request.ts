import { GatewayError } from '../errors.js';
import { parseJsonObject } from './parse-json-object.js';

/** What `POST /v1/embeddings` accepts (OpenAI's `EmbeddingCreateParams`); other fields pass through. */
export interface EmbeddingsRequest {
  model: string;
  /** One text, several texts, one array of token ids, or several. */
  input: string | string[] | number[] | number[][];
  /** `float` (OpenAI's default) or `base64` (little-endian float32, what the `openai` SDK asks for). */
  encoding_format?: 'float' | 'base64';
  /** Length of each vector, for models that can shorten theirs. */
  dimensions?: number;
  user?: string;
  [field: string]: unknown;
}

/** Most inputs in one request (OpenAI's documented bound on the `input` array). */
export const MAX_EMBEDDING_INPUTS = 2048;

function invalid(message: string, param: string): GatewayError {
  return GatewayError.of('invalid_request', message, { param });
}

const isTokenId = (value: unknown): boolean => Number.isInteger(value) && (value as number) >= 0;

/** Checks `input`: a non-empty string, or a non-empty array (≤ 2048) of strings or of token ids or of arrays of them. */
function checkInput(input: unknown): void {
  if (input === undefined) throw invalid("Missing required parameter: 'input'.", 'input');
  if (typeof input === 'string') {
    if (input === '') throw invalid("'input' must not be an empty string.", 'input');
    return;
  }
  if (!Array.isArray(input))
    throw invalid("'input' must be a string, an array of strings, or an array of token arrays.", 'input');
  if (input.length === 0) throw invalid("'input' must not be an empty array.", 'input');
  if (input.length > MAX_EMBEDDING_INPUTS)
    throw invalid(`'input' may hold at most ${MAX_EMBEDDING_INPUTS} items, got ${input.length}.`, 'input');
  if (input.every(isTokenId)) return;
  input.forEach((item: unknown, index) => {
    const param = `input[${index}]`;
    if (typeof item === 'string') {
      if (item === '') throw invalid(`'${param}' must not be an empty string.`, param);
    } else if (!Array.isArray(item) || item.length === 0 || !item.every(isTokenId)) {
      throw invalid(
        `'${param}' must be a non-empty string or a non-empty array of token ids (non-negative integers).`,
        param,
      );
    }
  });
  if (
    typeof input[0] === 'string'
      ? !input.every((item) => typeof item === 'string')
      : input.some((item) => typeof item === 'string')
  )
    throw invalid("'input' must not mix strings and token arrays.", 'input');
}

/**
 * Parses and checks an embeddings body: `model`, `input`, `encoding_format` and `dimensions` must
 * have OpenAI's types (each error names the `param`); everything else passes through upstream.
 */
export function parseEmbeddingsRequest(raw: Buffer): EmbeddingsRequest {
  const record = parseJsonObject(raw);
  if (record.model === undefined) throw invalid("Missing required parameter: 'model'.", 'model');
  if (typeof record.model !== 'string' || record.model.trim() === '')
    throw invalid("'model' must be a non-empty string.", 'model');
  checkInput(record.input);
  const format = record.encoding_format;
  if (format !== undefined && format !== null && format !== 'float' && format !== 'base64')
    throw invalid(
      `'encoding_format' must be "float" or "base64", got ${JSON.stringify(format)}.`,
      'encoding_format',
    );
  const dimensions = record.dimensions;
  if (
    dimensions !== undefined &&
    dimensions !== null &&
    !(Number.isInteger(dimensions) && (dimensions as number) > 0)
  )
    throw invalid("'dimensions' must be a positive integer.", 'dimensions');
  return record as EmbeddingsRequest;
}

/** The inputs of a request as a list: each a text or an array of token ids. */
export function embeddingInputs(input: EmbeddingsRequest['input']): Array<string | number[]> {
  if (typeof input === 'string') return [input];
  if (input.every((item) => typeof item === 'number')) return [input as number[]];
  return input as Array<string | number[]>;
}

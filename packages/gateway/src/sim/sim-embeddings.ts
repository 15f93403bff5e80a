import { createHash } from 'node:crypto';
import { seededRandom } from '@spool/protocol';
import { GatewayError } from '../errors.js';
import { type EmbeddingsRequest, embeddingInputs } from '../http/validate-embeddings-request.js';
import { estimateEmbeddingTokens } from '../limits/estimate-tokens.js';

/** Vector length when the request sets no `dimensions` (that of OpenAI's text-embedding-3-small). */
const SIM_EMBEDDING_DIMENSIONS = 1536;
/** Longest vector the sim makes, so one request cannot ask it for gigabytes. */
const SIM_MAX_EMBEDDING_DIMENSIONS = 8192;

/** OpenAI's embeddings response (`CreateEmbeddingResponse`). */
export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** A unit vector of `dimensions` float32 values determined by the model and the input. */
function simEmbedding(model: string, input: string | number[], dimensions: number): Float32Array {
  const seed = createHash('sha256')
    .update(`${model}\n${JSON.stringify(input)}`)
    .digest();
  // Seeded by the hash, so a vector depends on its model and input only.
  const random = seededRandom(seed.readUInt32LE(0));
  const vector = new Float32Array(dimensions);
  let norm = 0;
  for (let index = 0; index < dimensions; index++) {
    const value = random() * 2 - 1;
    vector[index] = value;
    norm += value * value;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let index = 0; index < dimensions; index++) vector[index] = (vector[index] as number) * scale;
  return vector;
}

/** The float32 values as OpenAI's `base64` encoding: their little-endian bytes. */
function toBase64(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let index = 0; index < vector.length; index++) bytes.writeFloatLE(vector[index] as number, index * 4);
  return bytes.toString('base64');
}

/**
 * The sim's answer to an embeddings request: one deterministic unit vector per input (the same
 * input and model always give the same vector, so it works offline and in tests), in the format
 * asked for.
 */
export function simEmbeddings(request: EmbeddingsRequest): EmbeddingsResponse {
  const dimensions = request.dimensions ?? SIM_EMBEDDING_DIMENSIONS;
  if (dimensions > SIM_MAX_EMBEDDING_DIMENSIONS) {
    throw GatewayError.of(
      'invalid_request',
      `The sim makes vectors of at most ${SIM_MAX_EMBEDDING_DIMENSIONS} dimensions, got ${dimensions}.`,
      { param: 'dimensions' },
    );
  }
  const inputs = embeddingInputs(request.input);
  // The gateway's estimate, as it charges a request; validation refuses empty inputs, so each counts.
  const tokens = estimateEmbeddingTokens(request.input);
  const data = inputs.map((input, index) => {
    const vector = simEmbedding(request.model, input, dimensions);
    return {
      object: 'embedding' as const,
      index,
      embedding: request.encoding_format === 'base64' ? toBase64(vector) : Array.from(vector),
    };
  });
  return {
    object: 'list',
    data,
    model: request.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

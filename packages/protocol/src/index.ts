export * from './anthropic-stop-reasons.js';
export * from './backoff.js';
export * from './errors.js';
export * from './event-id.js';
export * from './headers.js';
export * from './openai-types.js';
export * from './retry-after.js';
export * from './sse-encoder.js';

export * from './errors.js';
export * from './event-id.js';
export * from './headers.js';
export * from './openai-types.js';
export * from './retry.js';
export * from './sse-encoder.js';

export * from './errors.js';
export * from './event-id.js';
export * from './headers.js';
export * from './long-poll.js';
export * from './openai-types.js';
export * from './sse-encoder.js';

export * from './chat-stream.js';
export * from './client.js';
export * from './delta-assembler.js';
export * from './errors.js';
export * from './event-stream.js';
export * from './event-stream-types.js';
export * from './lifecycle.js';
export * from './messages-assembler.js';
export * from './messages-stream.js';
export * from './responses-stream.js';
export { resumableFetch } from './resumable-fetch.js';
export type {
  FetchFunction,
  ReconnectInfo,
  ResumableFetch,
  ResumableFetchOptions,
  ResumableStreamStats,
} from './resumable-fetch-types.js';
export * from './resume-planner.js';
export * from './retry-policy.js';
export * from './retry-signals.js';
export * from './scheduler.js';
export * from './stats.js';
export * from './transport.js';
export * from './transport-fetch.js';
export * from './transport-select.js';
export * from './transport-xhr.js';

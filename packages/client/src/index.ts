export {
  BUFFERED_VERDICT_TTL_MS,
  BufferedVerdicts,
  sharedBufferedVerdicts,
  type VerdictStorage,
} from './buffered-verdict.js';
export * from './chat-stream.js';
export * from './client.js';
export * from './delta-assembler.js';
export * from './errors.js';
export * from './event-stream.js';
export * from './event-stream-types.js';
export * from './lifecycle.js';
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
export {
  type BufferDetectionOptions,
  type FallbackReason,
  withLongPollFallback,
} from './transport-auto-fallback.js';
export * from './transport-fetch.js';
export { createLongPollTransport, type LongPollTransportOptions } from './transport-long-poll.js';
export * from './transport-select.js';
export * from './transport-xhr.js';

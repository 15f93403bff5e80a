// The public API, chosen: everything not named here (the resume planner, the transports, the retry
// arithmetic, the SSE splicer …) is internal and free to change.

export { BufferedVerdicts, type VerdictStorage } from './buffered-verdict.js';
export type {
  AssembledStatusEvent,
  AssembledStream,
  AssembledStreamEvent,
  AssembledStreamOptions,
  ChatResumeOptions,
  ChatStatusEvent,
  ChatStream,
  ChatStreamEvent,
  ChatStreamOptions,
} from './chat-stream.js';
export { type ClientOptions, createClient, type SpoolClient } from './client.js';
export type {
  ChatDeltaEvent,
  FinishEvent,
  TextDeltaEvent,
  ToolCallDeltaEvent,
  UsageEvent,
} from './delta-assembler.js';
export {
  AbortError,
  CallbackError,
  HttpError,
  IdleTimeoutError,
  NetworkError,
  ResumeUnsupportedError,
  SpoolClientError,
  type SpoolClientErrorOptions,
  StreamError,
} from './errors.js';
export { connectEventStream } from './event-stream.js';
export type {
  EventStream,
  EventStreamHandlers,
  EventStreamMessage,
  EventStreamOptions,
  HeadersOption,
  RetryContext,
  StreamStatus,
} from './event-stream-types.js';
export {
  createManualLifecycle,
  globalLifecycle,
  type LifecycleEvent,
  type LifecycleSource,
  type ManualLifecycle,
} from './lifecycle.js';
export { type AssembledMessage, type MessageContentBlock, MessagesAssembler } from './messages-assembler.js';
export type { MessagesResumeOptions, MessagesStream, MessagesStreamOptions } from './messages-stream.js';
export type {
  ResponseObject,
  ResponsesStatusEvent,
  ResponsesStream,
  ResponsesStreamEvent,
  ResponsesStreamOptions,
} from './responses-stream.js';
export { resumableFetch } from './resumable-fetch.js';
export type {
  FetchFunction,
  ReconnectInfo,
  ResumableFetch,
  ResumableFetchOptions,
  ResumableStreamStats,
} from './resumable-fetch-types.js';
export type { JitterMode, RetryOptions } from './retry-policy.js';
export { createScheduler, type Scheduler, type SchedulerOptions } from './scheduler.js';
export { StatsRecorder, type StreamStats } from './stats.js';
export type { ChunkHandler, Transport, TransportRequest, TransportResponse } from './transport.js';
export type { BufferDetectionOptions, FallbackReason } from './transport-auto-fallback.js';
export { type FetchLike, fetchCanStream } from './transport-fetch.js';
export type { TransportOption } from './transport-select.js';
export type { XhrConstructor, XhrLike } from './transport-xhr.js';

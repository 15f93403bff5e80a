import type { ClientOptions, SpoolClientError, StreamStats } from '@spool/client';
import type { ChatCompletionRequest } from '@spool/protocol';

/**
 * Where the conversation stands: `connecting` until the gateway answers, `streaming` while tokens
 * arrive, `reconnecting` while a retry waits (see `retry`), `offline` while the device is offline
 * with a stream open, `error` after a failure (`retry()` tries again), `done` after a complete answer,
 * `idle` before the first message, after Stop and after `clear()`.
 */
export type ChatStatus = 'idle' | 'connecting' | 'streaming' | 'reconnecting' | 'offline' | 'error' | 'done';

/** How far an assistant message got. */
export type ChatMessageState = 'streaming' | 'done' | 'stopped' | 'error';

/** One message of the conversation as shown. */
export interface ChatMessage {
  /** Unique within the conversation. */
  id: string;
  role: 'user' | 'assistant';
  /** The text; for an assistant message being streamed, the text so far. */
  content: string;
  /** For assistant messages: streaming, done, stopped by the user, or failed. */
  state?: ChatMessageState;
}

/** A retry the client is waiting to make. */
export interface ChatRetryInfo {
  /** 1 for the first retry of an outage. */
  attempt: number;
  /** The wait the retry policy chose (the server's `Retry-After` when it sent one), in ms. */
  delayMs: number;
  /** When the retry fires (epoch ms); later if the device is offline meanwhile. */
  nextRetryAt: number;
  /** Machine-readable reason, e.g. `rate_limit_exceeded`, `network_error`, `idle_timeout`. */
  code: string;
  /** Why the last attempt failed, for people. */
  message: string;
  /**
   * The failure itself: its HTTP `status` and, for an `HttpError`, the `body` (whose
   * `error.provider` names the upstream when the gateway relays the upstream's refusal).
   */
  reason: SpoolClientError;
}

/** Everything a chat UI renders; a new object on every change (`useSyncExternalStore` compares by identity). */
export interface ChatState {
  messages: readonly ChatMessage[];
  status: ChatStatus;
  /** The failure behind `status: 'error'`. */
  error: SpoolClientError | undefined;
  /** Set while `status` is `reconnecting` or `offline` and a retry is scheduled. */
  retryInfo: ChatRetryInfo | undefined;
  /** Time to first token, tokens/s, reconnects of the latest answer. */
  stats: StreamStats | undefined;
  /** The gateway's id of the latest answer's stream (`X-Stream-Id`). */
  streamId: string | undefined;
  /** The model the next message goes to. */
  model: string;
  /**
   * "Slow network mode": the network buffers event streams, so the latest answer is read by
   * long-poll (its text arrives in small batches rather than token by token).
   */
  slowNetwork: boolean;
}

/** Per-message options, e.g. for the chat page's network drill. */
export interface SendOptions {
  /** Extra request headers for this answer only (e.g. `X-Spool-Fault`). */
  headers?: Record<string, string>;
  /** Overrides the idle watchdog for this answer. */
  idleTimeoutMs?: number;
  /** Extra request body fields (`seed`, `max_tokens`, `temperature` …). */
  body?: Partial<Omit<ChatCompletionRequest, 'messages' | 'stream'>>;
}

/** Options of {@link createChatStore} and `useChat`; every default is listed here. */
export interface ChatStoreOptions {
  /** The API root, e.g. `http://localhost:8787/v1` or `/v1` on the page the gateway serves. */
  baseURL: string;
  /** Sent as `Authorization: Bearer <apiKey>`; not needed in the gateway's dev mode. */
  apiKey?: string;
  /** The model to use. @default 'sim' */
  model?: string;
  /** A system prompt sent first with every request (not shown, not counted by `contextWindow`). */
  system?: string;
  /**
   * Send only the last N messages of the conversation (the new one included). @default Infinity
   */
  contextWindow?: number;
  /** Keep the conversation in localStorage across visits. @default true */
  persistHistory?: boolean;
  /** Keep the in-flight stream's id in sessionStorage and reattach to it after a reload. @default true */
  resumeOnReload?: boolean;
  /** Prefix of the storage keys, one per conversation. @default 'spool-chat' */
  storageKey?: string;
  /**
   * Where history and the in-flight record live (React Native: an adapter over a sync store).
   * @default globalThis.localStorage / globalThis.sessionStorage when present, else none
   */
  storage?: { history?: StorageLike | undefined; session?: StorageLike | undefined };
  /** Passed to `createClient` (retry, idleTimeoutMs, fetch, lifecycle, headers …). @default {} */
  client?: Omit<ClientOptions, 'baseURL' | 'apiKey'>;
  /** The clock, for retry countdowns. @default Date.now */
  now?: () => number;
}

/** The part of the Web Storage API the chat store uses (localStorage, sessionStorage or an adapter). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

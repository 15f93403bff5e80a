import type { ApiName } from '../surfaces/api-name.js';

/** Where a spooled stream is in its life. */
export type StreamState = 'pending' | 'streaming' | 'done' | 'error' | 'cancelled';

/** What the store knows of a stream besides its events. */
export interface StreamMeta {
  /** The unguessable stream id (the `X-Stream-Id`). */
  id: string;
  /** Who created it: the gateway key's name, or `anonymous` in dev mode. */
  ownerId: string;
  /** The client's `Idempotency-Key`, when it sent one. */
  idempotencyKey?: string | undefined;
  /** SHA-256 of the request body, to refuse a reused key with a different body. */
  bodyHash?: string | undefined;
  /** The requested model. */
  model: string;
  /** Epoch ms. */
  createdAt: number;
  state: StreamState;
  /** Epoch ms when the stream ended. */
  endedAt?: number | undefined;
  /** For a stream that failed before its first byte: the HTTP error an attaching retry answers with. */
  failure?: { status: number; body: unknown; retryAfterSeconds?: number | undefined } | undefined;
  /** The lowest event id still held (older ones were evicted by the byte cap); 1 when none were. */
  firstId?: number | undefined;
  /**
   * The id of the stream's last event (its `[DONE]` or final error event), set once it has ended
   * (state `done`, `error` or `cancelled`); 0 when it ended without any event.
   */
  lastId?: number | undefined;
  /** The surface whose events the stream holds (how it is encoded and resumed). @default 'chat' */
  surface?: ApiName | undefined;
  /**
   * What the stream's surface keeps beside its events, as the surface wrote it (Responses: the
   * request's input items, for `previous_response_id`); kept as long as the stream.
   */
  surfaceData?: string | undefined;
  /** The instance generating the stream (shared stores only: its liveness decides whether the stream is lost). */
  instanceId?: string | undefined;
  /**
   * The generating instance died before the stream ended: the store ended it (state `error`) with
   * one `generation_lost` error event, and freed its idempotency key (shared stores only).
   */
  lost?: boolean | undefined;
}

/** The outcome of `create`: a new stream, or the one already under the same idempotency key. */
export type CreateResult = { created: true; meta: StreamMeta } | { created: false; meta: StreamMeta };

/** Why a read cannot start or go on. */
export type ReadFailure = 'not_found' | 'expired' | 'evicted';

/** Raised by a store when a stream cannot be read. */
export class SpoolReadError extends Error {
  constructor(
    readonly reason: ReadFailure,
    message: string,
  ) {
    super(message);
    this.name = 'SpoolReadError';
  }
}

/** The error of a read that resumes before the first event the byte cap left in the spool. */
export function evictedError(streamId: string, cursor: number, firstId: number): SpoolReadError {
  return new SpoolReadError(
    'evicted',
    `Events ${cursor + 1}-${firstId - 1} of stream ${streamId} were evicted (spool.maxStreamBytes)`,
  );
}

/** Raised when the store cannot be reached (Redis down): the gateway answers 503. */
export class StoreUnavailableError extends Error {
  readonly code = 'store_unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * Keeps every event of a stream as the exact bytes sent, with its id, so any reader can replay
 * then tail it. Ids are 1, 2, 3 … in order; `read` yields events after `afterId` with no gap and no
 * duplicate, then ends when the stream has ended.
 */
export interface SpoolStore {
  /** A short name for logs and metrics (`memory`, `redis`). */
  readonly kind: string;
  /**
   * Creates a stream in state `pending`. When `meta.idempotencyKey` is set and a stream of the same
   * owner already has it, nothing is created and that stream is returned instead.
   */
  create(meta: StreamMeta): Promise<CreateResult>;
  /** Marks a pending stream as committed (the upstream accepted; the 200 is going out). */
  commit(streamId: string): Promise<void>;
  /** Fails a pending stream: attaching retries answer `failure`, and the idempotency key is freed. */
  fail(streamId: string, failure: NonNullable<StreamMeta['failure']>): Promise<void>;
  /**
   * Appends the next events (each one whole, encoded event); `firstId` is the first one's id and
   * must be the last id + 1. Returns `undefined` when the store took them at once (the usual case:
   * a stream's every event passes here, and an `await` costs a promise and a microtask), else a
   * promise to wait for; a failure always comes as that promise's rejection. A shared store may
   * take events before they are durably stored (write-behind): a storage failure then surfaces on a
   * later `append` or, at the latest, on `finish`, and readers end with `StoreUnavailableError`
   * rather than skip them. Readers waiting for the stream may be handed the events before `append`
   * returns.
   */
  append(streamId: string, firstId: number, events: readonly string[]): Promise<void> | undefined;
  /** Ends a stream and records its last event id (`lastId`); readers drain and finish, and the retention period starts. */
  finish(streamId: string, state: 'done' | 'error' | 'cancelled'): Promise<void>;
  /** The stream's metadata; `undefined` when unknown, `'expired'` when it existed and was dropped. */
  getMeta(streamId: string): Promise<StreamMeta | 'expired' | undefined>;
  /**
   * Replays the events after `afterId` then tails new ones, yielding the concatenated bytes of
   * whatever is available at once; ends after the last event of an ended stream.
   * `return()` stops the read at once, also while a `next()` waits: that `next()` resolves done.
   * (No AbortSignal: an open stream would hold one, and its listener, for its whole life.)
   * Throws `SpoolReadError` when the stream is unknown, expired, or `afterId` was evicted.
   */
  read(streamId: string, afterId: number): SpoolReader;
  /**
   * Forgets an ended stream now rather than at the end of its retention (a `DELETE` of its
   * Response): its id is then unknown. A stream still running is left as it is.
   */
  forget(streamId: string): Promise<void>;
  /** Asks whichever instance generates the stream to stop. */
  requestCancel(streamId: string): Promise<void>;
  /** Registers the handler this instance runs when a stream is asked to stop. */
  onCancelRequest(handler: (streamId: string) => void): void;
  /** Throws when the store cannot be reached (for `/ready`). */
  ping(): Promise<void>;
  /** Releases timers and connections. */
  close(): Promise<void>;
}

/**
 * A read of one stream: an async iterator, and `pull`, the same answers through callbacks. A
 * stream served live takes one batch per upstream read; through `next()` each costs a promise, its
 * reaction and a microtask, while `pull` hands the batch over in the same call stack as the append
 * that woke the reader (bench/relay: a share of the spool's CPU per event).
 */
export interface SpoolReader extends AsyncIterableIterator<string> {
  /**
   * Asks for the next answer, as `next()` does: `onResult` is called with it, at once (before
   * `pull` returns) when the reader has one at hand, as a reader of a stream generated in this
   * process does, and else when the stream changes, which may be inside the `append` that changed
   * it; `onError` is called with the error the read ends with. The callbacks must not throw. One
   * pull at a time; `return()` ends a pull that waits with a done result.
   */
  pull(onResult: (result: IteratorResult<string>) => void, onError: (error: unknown) => void): void;
}

/** Bounds every store applies. */
export interface SpoolLimits {
  /** How long an ended stream stays readable. */
  retentionMs: number;
  /** Bytes kept per stream; older events are evicted beyond it. */
  maxStreamBytes: number;
}

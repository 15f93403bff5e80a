import { EventIdTracker, IDEMPOTENCY_KEY_HEADER, LAST_EVENT_ID_HEADER } from '@spool/protocol';

/**
 * How an attempt relates to the stream: the first request; a resume of a known stream
 * (`GET …/streams/{id}`); a re-send of the original request with the same `Idempotency-Key` when no
 * response ever told us the stream id; or a restart from scratch when the server cannot resume.
 */
type AttemptKind = 'initial' | 'resume' | 'repost' | 'restart';

/** One HTTP request the engine should make next. */
export interface PlannedRequest {
  kind: AttemptKind;
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** The last event id already delivered; the server should send what follows. */
  fromEventId: number;
  /** How many of the stream's events were delivered: the spool offset a long-poll read goes on after. */
  deliveredCount?: number;
}

/** The original request and how to reach a stream by id. */
export interface ResumePlannerOptions {
  url: string;
  method: string;
  body?: string | undefined;
  /** Where a known stream can be resumed; `undefined` means "re-send the original request". */
  resumeUrl?: ((streamId: string, lastEventId?: number) => string | undefined) | undefined;
  /** The server's id of a stream's first event (the tracker counts from 1). @default 1 */
  firstEventId?: number | undefined;
  /** Whether to send an `Idempotency-Key` with the original request. */
  idempotency: boolean;
  /** Makes a fresh idempotency key. */
  generateKey: () => string;
  /** A stream to attach to from the first request (`GET resumeUrl(streamId)`), not one to create. */
  streamId?: string | undefined;
  /** The last event id already delivered elsewhere; the first request asks for what follows. @default 0 */
  lastEventId?: number | undefined;
}

/** What to do after a connection dropped. */
export type DropDecision = 'resume' | 'restart' | 'fail';

/**
 * Resume bookkeeping for one logical stream: which events were delivered, which stream id and
 * idempotency key name it, and what request comes next. Pure: the engine does the I/O.
 */
export class ResumePlanner {
  // `declare`d and set in the constructor: bundlers targeting ES2020 turn each initialized field into a
  // helper call (bench/client-size).
  declare private options: ResumePlannerOptions;
  declare private tracker: EventIdTracker;
  declare private currentStreamId: string | undefined;
  declare private currentKey: string | undefined;
  declare private attempted: boolean;
  declare private responded: boolean;
  declare private restartPending: boolean;
  declare private delivered: boolean;
  /** Added to the server's event ids so that the tracker counts from 1. */
  declare private readonly idShift: number;

  constructor(options: ResumePlannerOptions) {
    this.options = options;
    this.attempted = this.responded = this.restartPending = this.delivered = false;
    this.idShift = 1 - (options.firstEventId ?? 1);
    this.tracker = new EventIdTracker(
      options.lastEventId === undefined ? undefined : options.lastEventId + this.idShift,
    );
    this.currentStreamId = options.streamId;
    this.currentKey = options.idempotency ? options.generateKey() : undefined;
  }

  /** The stream id from the server's `X-Stream-Id`, once a response carried one. */
  get streamId(): string | undefined {
    return this.currentStreamId;
  }

  /** The highest event id delivered, as the server numbers it (`firstEventId` - 1 before the first). */
  get lastEventId(): number {
    return this.tracker.lastEventId - this.idShift;
  }

  /** The `Idempotency-Key` the original request carries. */
  get idempotencyKey(): string | undefined {
    return this.currentKey;
  }

  /** The request to make next, with the caller's `headers` plus the resume headers. */
  plan(headers: Record<string, string>): PlannedRequest {
    const delivered = this.tracker.lastEventId;
    const fromEventId = delivered - this.idShift;
    const withLastId = { ...headers };
    if (delivered > 0) withLastId[LAST_EVENT_ID_HEADER] = String(fromEventId);
    const resumeUrl =
      this.currentStreamId === undefined
        ? undefined
        : this.options.resumeUrl?.(this.currentStreamId, delivered > 0 ? fromEventId : undefined);
    let kind: AttemptKind = this.attempted ? 'repost' : 'initial';
    if (this.restartPending) kind = 'restart';
    else if (resumeUrl !== undefined) kind = 'resume';
    this.attempted = true;
    if (kind === 'resume' && resumeUrl !== undefined) {
      return {
        kind,
        url: resumeUrl,
        method: 'GET',
        headers: withLastId,
        body: undefined,
        fromEventId,
        deliveredCount: delivered,
      };
    }
    if (this.currentKey !== undefined) withLastId[IDEMPOTENCY_KEY_HEADER] = this.currentKey;
    return {
      kind,
      url: this.options.url,
      method: this.options.method,
      headers: withLastId,
      body: this.options.body,
      fromEventId,
      deliveredCount: delivered,
    };
  }

  /**
   * Records a successful (2xx event-stream) response and the stream id it named, if any. Returns
   * true when it names another stream than the one whose events were delivered (a retry with the
   * same `Idempotency-Key` started a new generation, its first having been lost): the events
   * delivered so far are then forgotten, and the caller announces a restart.
   */
  onResponse(streamId: string | null): boolean {
    const replaced =
      Boolean(streamId) &&
      this.currentStreamId !== undefined &&
      streamId !== this.currentStreamId &&
      this.delivered;
    this.responded = true;
    this.restartPending = false;
    if (streamId) this.currentStreamId = streamId;
    if (replaced) {
      this.tracker = new EventIdTracker();
      this.delivered = false;
    }
    return replaced;
  }

  /**
   * Names the stream being read when its response did not (no `X-Stream-Id`) but one of its events
   * did, so that a drop resumes it by `resumeUrl` instead of restarting.
   */
  nameStream(streamId: string): void {
    this.currentStreamId ??= streamId;
  }

  /** Whether an event is new; replayed events at or below the last delivered id are not. */
  accept(eventId: string | undefined): boolean {
    const numeric = this.idShift === 0 || eventId === undefined || !/^\d{1,15}$/.test(eventId.trim());
    const fresh = this.tracker.accept(numeric ? eventId : Number(eventId) + this.idShift);
    if (fresh) this.delivered = true;
    return fresh;
  }

  /**
   * Decides how to continue after a drop: resume when the server named the stream (or never answered,
   * so the same idempotency key can attach to it), otherwise restart or fail per `onNoResume`.
   */
  onDrop(onNoResume: 'restart' | 'fail'): DropDecision {
    if (this.currentStreamId !== undefined || !this.responded) return 'resume';
    // Nothing reached the caller yet, so starting over is invisible even with onNoResume 'fail'.
    if (onNoResume === 'fail' && this.delivered) return 'fail';
    return this.restartGeneration();
  }

  /**
   * Whether a new generation can be started: not for a read that attaches to a known stream
   * (`streamId` given), which has no request of its own to send again.
   */
  get canRestart(): boolean {
    return this.options.streamId === undefined;
  }

  /** Abandons the current generation (e.g. after a transient mid-stream error) and starts a new one. */
  restart(): void {
    this.restartGeneration();
  }

  private restartGeneration(): 'restart' {
    this.tracker = new EventIdTracker();
    this.currentStreamId = undefined;
    this.responded = false;
    this.delivered = false;
    this.restartPending = true;
    if (this.currentKey !== undefined) this.currentKey = this.options.generateKey();
    return 'restart';
  }
}

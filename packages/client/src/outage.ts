import {
  HttpError,
  NetworkError,
  ResumeUnsupportedError,
  type SpoolClientError,
  StreamError,
} from './errors.js';
import type { EventStreamOptions, StreamStatus } from './event-stream-types.js';
import type { BackoffStep, ReconnectBackoff } from './reconnect-backoff.js';
import type { PlannedRequest, ResumePlanner } from './resume-planner.js';
import type { StatsRecorder } from './stats.js';

/** Retryable, never counted: the page became visible and the caller asked for a fresh connection. */
export class VisibilityReconnect extends NetworkError {
  constructor() {
    super('The page became visible.', { code: 'visibility_reconnect' });
  }
}

/** What one event stream's {@link Outage} works with; all pure, the shell does the I/O. */
export interface OutageOptions {
  /** Which request comes next; told of every drop and restart. */
  planner: ResumePlanner;
  /** The retry budget of the outage under way (attempts, time, offline time). */
  backoff: ReconnectBackoff;
  /** The stream's stats: downtime is recorded here, and delivered events end an outage. */
  stats: StatsRecorder;
  /** The stream's `onNoResume` (default `'restart'`) and whether it has an `onUnauthorized` hook. */
  options: Pick<EventStreamOptions, 'onNoResume' | 'onUnauthorized'>;
}

/** What the stream does after a failed attempt. */
export type OutageAction =
  /** Stop with `error` (the failure's own, or why the stream cannot go on). */
  | { type: 'fail'; error: SpoolClientError }
  /** Connect again at once; not counted against the retry budget. */
  | { type: 'reconnect' }
  /**
   * Ask `onUnauthorized` for fresh credentials and connect again at once (offered once per outage); if
   * it declines, stop with `error`: a 401 is final.
   */
  | { type: 'authorize'; error: HttpError }
  /** Wait `delayMs` (the shell's `onRetry` may change it or veto), then connect again. */
  | ({ type: 'retry' } & BackoffStep);

/** The outage bookkeeping of one event stream; see {@link createOutage}. */
export interface Outage {
  /**
   * A connection opened for `planned` and its response named `streamId` (`X-Stream-Id`, or `null`):
   * the outage is over. Returns the status to announce: `open` the first time (attaching to a known
   * stream announces `resumed`), then `resumed`, or `restarted` when a new generation replaced the one
   * being read.
   */
  connected(planned: PlannedRequest, streamId: string | null): StreamStatus;
  /**
   * An attempt failed with `error`: what the stream does next. `serverRetryMs` is the stream's last
   * `retry:` field (the least a reconnect waits); `now` the time of the failure, the backoff's clock
   * (`Date.now()`) when left out. An attempt that delivered events before it failed ends the outage
   * before it, so this failure begins a new one.
   */
  failed(error: SpoolClientError, serverRetryMs: number | undefined, now?: number): OutageAction;
}

/**
 * The outage bookkeeping of one event stream, as a state machine the retry loop drives: a failed
 * attempt becomes the next action (retry after a wait, reconnect at once, refresh credentials, give up),
 * and a connection that opens ends the outage with the status to announce. No timers or I/O: time comes
 * in as `now` and through the stats' clock, so it is tested as a table of steps (outage.test.ts);
 * `connectEventStream` is the shell that connects, calls the caller's hooks and waits. (A closure
 * rather than a class: private fields cost the browser bundle a helper call per access.)
 */
export function createOutage({ planner, backoff, stats, options }: OutageOptions): Outage {
  /** A connection has opened: a later one resumes (or restarts) rather than opens. */
  let opened = false;
  /** `onUnauthorized` was offered in this outage. */
  let authorized = false;
  /** The stream's delivered events at the last failure: more at the next one mean the attempt made progress. */
  let eventsAtFailure = stats.snapshot().events;

  const failed = (error: SpoolClientError, serverRetryMs: number | undefined, now?: number): OutageAction => {
    const { events } = stats.snapshot();
    if (events > eventsAtFailure) backoff.reset();
    eventsAtFailure = events;
    if (error instanceof HttpError && error.status === 401 && options.onUnauthorized && !authorized) {
      authorized = true;
      return { type: 'authorize', error };
    }
    if (!error.retryable) return { type: 'fail', error };
    if (error instanceof StreamError) {
      // A stream attached to by id (`resume`) cannot be started again: its error is final.
      if (!planner.canRestart) return { type: 'fail', error };
      planner.restart();
    } else if (planner.onDrop(options.onNoResume ?? 'restart') === 'fail') {
      return { type: 'fail', error: new ResumeUnsupportedError(error) };
    }
    if (error instanceof VisibilityReconnect) {
      stats.disconnected();
      return { type: 'reconnect' };
    }
    const step = backoff.next(error, serverRetryMs, now);
    if (step === undefined) return { type: 'fail', error };
    stats.disconnected();
    return { type: 'retry', ...step };
  };

  return {
    connected(planned, streamId) {
      const replaced = planner.onResponse(streamId);
      stats.connected();
      authorized = false;
      const first = !opened;
      opened = true;
      if (first && planned.kind !== 'resume') return { type: 'open', streamId: planner.streamId };
      if (planned.kind === 'restart' || replaced) return { type: 'restarted' };
      return { type: 'resumed', fromEventId: planned.fromEventId, streamId: planner.streamId };
    },
    failed,
  };
}

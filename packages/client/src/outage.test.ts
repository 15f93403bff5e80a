import { describe, expect, it } from 'vitest';
import { HttpError, NetworkError, type SpoolClientError, StreamError } from './errors.js';
import { createManualLifecycle } from './lifecycle.js';
import { createOutage, type OutageAction, VisibilityReconnect } from './outage.js';
import { createReconnectBackoff } from './reconnect-backoff.js';
import { ResumePlanner } from './resume-planner.js';
import { normalizeRetryOptions, type RetryOptions } from './retry-policy.js';
import { StatsRecorder } from './stats.js';

const cut = new NetworkError('cut');
const badRequest = new HttpError('bad', { code: 'invalid_request', status: 400, retryable: false });
const unauthorized = new HttpError('expired', { code: 'invalid_api_key', status: 401, retryable: false });
const busy = new HttpError('busy', { code: 'http_503', status: 503, retryable: true, retryAfterMs: 2500 });
const lost = new StreamError('lost', { code: 'generation_lost', retryable: true });
const filtered = new StreamError('filtered', { code: 'content_filter', retryable: false });

/**
 * One step of a script: an attempt that opens (and whose response names a stream, or not), events
 * delivered on it, or an attempt that fails at a time on the clock.
 */
type Step =
  | { open: string | null }
  | { deliver: string[] }
  | { fail: SpoolClientError; at?: number; serverRetryMs?: number };

interface Setup {
  retry?: RetryOptions;
  onNoResume?: 'restart' | 'fail';
  canAuthorize?: boolean;
  /** Attach to this stream by id (`chat.resume`) instead of starting one. */
  attachTo?: string;
}

/** An action or a status as one short line, so a whole script's outcome reads as a table. */
function summarize(outcome: OutageAction | { type: string; fromEventId?: number }): string {
  if (outcome.type === 'fail' && 'error' in outcome) return `fail ${outcome.error.code}`;
  if (outcome.type === 'retry' && 'attempt' in outcome)
    return `retry #${outcome.attempt} in ${outcome.delayMs} ms (${outcome.elapsedMs} ms down)`;
  if (outcome.type === 'resumed') return `resumed after ${outcome.fromEventId}`;
  return outcome.type;
}

/** Drives an outage through `steps` as `connectEventStream`'s loop would, on a clock that starts at 0. */
function run(steps: Step[], setup: Setup = {}) {
  let clock = 0;
  let keys = 0;
  const planner = new ResumePlanner({
    url: 'https://gw/v1/chat/completions',
    method: 'POST',
    body: '{}',
    resumeUrl: (id) => `https://gw/v1/streams/${id}`,
    idempotency: true,
    generateKey: () => `key-${++keys}`,
    streamId: setup.attachTo,
  });
  const stats = new StatsRecorder(() => clock);
  const retry = normalizeRetryOptions({
    initialDelayMs: 100,
    maxDelayMs: 400,
    jitter: 'none',
    ...setup.retry,
  });
  const outage = createOutage({
    planner,
    backoff: createReconnectBackoff(retry, createManualLifecycle()),
    stats,
    options: {
      onNoResume: setup.onNoResume,
      onUnauthorized: setup.canAuthorize ? () => undefined : undefined,
    },
  });
  const outcomes: string[] = [];
  let planned = planner.plan({});
  for (const step of steps) {
    if ('open' in step) {
      outcomes.push(summarize(outage.connected(planned, step.open)));
    } else if ('deliver' in step) {
      for (const id of step.deliver) {
        // As the shell does: an event counts when the planner takes it as new.
        if (planner.accept(id)) stats.addEvent();
      }
    } else {
      clock = step.at ?? clock;
      const action = outage.failed(step.fail, step.serverRetryMs, clock);
      outcomes.push(summarize(action));
      if (action.type === 'retry') clock += action.delayMs;
      planned = planner.plan({});
    }
  }
  return { outcomes, stats: stats.snapshot(), planned };
}

describe('createOutage', () => {
  it.each<[string, Step[], Setup, string[]]>([
    [
      'announces open, then resumed after the last delivered event',
      [{ open: 'str_1' }, { deliver: ['1', '2'] }, { fail: cut }, { open: 'str_1' }],
      {},
      ['open', 'retry #1 in 100 ms (0 ms down)', 'resumed after 2'],
    ],
    [
      'attaching to a known stream announces resumed from its first response',
      [{ open: 'str_1' }],
      { attachTo: 'str_1' },
      ['resumed after 0'],
    ],
    [
      'counts the attempts of one outage, doubling to the cap, and gives up after maxAttempts',
      [{ fail: cut }, { fail: cut }, { fail: cut }, { fail: cut }, { fail: cut }],
      { retry: { maxAttempts: 4 } },
      [
        'retry #1 in 100 ms (0 ms down)',
        'retry #2 in 200 ms (100 ms down)',
        'retry #3 in 400 ms (300 ms down)',
        'retry #4 in 400 ms (700 ms down)',
        'fail network_error',
      ],
    ],
    [
      'starts a new outage once a connection delivered events, not merely when it opened',
      [{ fail: cut }, { open: 'str_1' }, { fail: cut }, { open: 'str_1' }, { deliver: ['1'] }, { fail: cut }],
      {},
      [
        'retry #1 in 100 ms (0 ms down)',
        'open',
        'retry #2 in 200 ms (100 ms down)',
        'resumed after 0',
        'retry #1 in 100 ms (0 ms down)',
      ],
    ],
    [
      'gives up when the next wait would take the outage past maxElapsedMs',
      [
        { fail: cut, at: 1000 },
        { fail: cut, at: 1500 },
        { fail: cut, at: 2400 },
      ],
      { retry: { maxElapsedMs: 1000 } },
      ['retry #1 in 100 ms (0 ms down)', 'retry #2 in 200 ms (500 ms down)', 'fail network_error'],
    ],
    [
      "waits what Retry-After says, and at least the stream's retry: after a drop",
      [{ fail: busy }, { fail: cut, serverRetryMs: 300 }],
      {},
      ['retry #1 in 2500 ms (0 ms down)', 'retry #2 in 300 ms (2500 ms down)'],
    ],
    ['fails at once on an error no retry can fix', [{ fail: badRequest }], {}, ['fail invalid_request']],
    [
      'offers onUnauthorized once per outage, again after a connection opened',
      [{ fail: unauthorized }, { fail: unauthorized }, { open: 'str_1' }, { fail: unauthorized }],
      { canAuthorize: true },
      ['authorize', 'fail invalid_api_key', 'open', 'authorize'],
    ],
    ['fails on a 401 without onUnauthorized', [{ fail: unauthorized }], {}, ['fail invalid_api_key']],
    [
      'reconnects at once and uncounted when the page becomes visible',
      [{ fail: cut }, { fail: new VisibilityReconnect() }, { fail: cut }],
      {},
      ['retry #1 in 100 ms (0 ms down)', 'reconnect', 'retry #2 in 200 ms (100 ms down)'],
    ],
    [
      'starts a new generation after a transient mid-stream error and announces restarted',
      [{ open: 'str_1' }, { deliver: ['1'] }, { fail: lost }, { open: 'str_2' }],
      {},
      ['open', 'retry #1 in 100 ms (0 ms down)', 'restarted'],
    ],
    [
      'announces restarted when a reconnect is answered by another stream than the one being read',
      [{ open: 'str_1' }, { deliver: ['1'] }, { fail: cut }, { open: 'str_2' }],
      {},
      ['open', 'retry #1 in 100 ms (0 ms down)', 'restarted'],
    ],
    [
      'ends a stream attached to by id at a transient mid-stream error: it has no request to send again',
      [{ open: 'str_1' }, { fail: lost }],
      { attachTo: 'str_1' },
      ['resumed after 0', 'fail generation_lost'],
    ],
    [
      'fails at a final mid-stream error',
      [{ open: 'str_1' }, { deliver: ['1'] }, { fail: filtered }],
      {},
      ['open', 'fail content_filter'],
    ],
    [
      "fails when the server cannot resume and onNoResume is 'fail', once something was delivered",
      [{ open: null }, { deliver: ['1'] }, { fail: cut }],
      { onNoResume: 'fail' },
      ['open', 'fail resume_unsupported'],
    ],
    [
      "restarts under onNoResume 'fail' while nothing was delivered yet",
      [{ open: null }, { fail: cut }, { open: null }],
      { onNoResume: 'fail' },
      ['open', 'retry #1 in 100 ms (0 ms down)', 'restarted'],
    ],
  ])('%s', (_title, steps, setup, expected) => {
    expect(run(steps, setup).outcomes).toEqual(expected);
  });

  it('records downtime from each failure until a connection opens', () => {
    const { stats } = run([
      { open: 'str_1' },
      { fail: cut, at: 1000 },
      { fail: cut, at: 1200 },
      { open: 'str_1' },
      { deliver: ['1'] },
      { fail: new VisibilityReconnect(), at: 5000 },
      { fail: cut, at: 5050 },
      { open: 'str_1' },
    ]);
    // Down from 1000 to 1400 (two waits, 100 and 200 ms), then from 5000 to 5150 (the visibility
    // reconnect at 5000 failed too; the wait after it was 100 ms, a new outage's first).
    expect(stats.stallMs).toBe(550);
  });

  it('tells the planner to start over after a transient mid-stream error', () => {
    const { planned } = run([{ open: 'str_1' }, { deliver: ['1', '2'] }, { fail: lost }]);
    expect(planned).toMatchObject({ kind: 'restart', method: 'POST', fromEventId: 0 });
    expect(planned.headers['idempotency-key']).toBe('key-2');
  });
});

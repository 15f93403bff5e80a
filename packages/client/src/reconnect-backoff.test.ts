import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HttpError, NetworkError } from './errors.js';
import { createManualLifecycle } from './lifecycle.js';
import { createReconnectBackoff } from './reconnect-backoff.js';
import { normalizeRetryOptions } from './retry-policy.js';

const drop = new NetworkError('cut');

describe('createReconnectBackoff', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('doubles its delays to the cap, gives up after maxAttempts, and starts over after reset', () => {
    const options = normalizeRetryOptions({
      initialDelayMs: 100,
      maxDelayMs: 300,
      jitter: 'none',
      maxAttempts: 4,
    });
    const backoff = createReconnectBackoff(options, createManualLifecycle());
    const delays = [1, 2, 3, 4].map(() => backoff.next(drop, undefined)?.delayMs);
    expect(delays).toEqual([100, 200, 300, 300]);
    expect(backoff.next(drop, undefined)).toBeUndefined();
    backoff.reset();
    expect(backoff.next(drop, undefined)).toMatchObject({ attempt: 1, delayMs: 100 });
  });

  it("takes Retry-After as sent and raises the backoff to the stream's retry:", () => {
    const options = normalizeRetryOptions({ initialDelayMs: 100, jitter: 'none' });
    const backoff = createReconnectBackoff(options, createManualLifecycle());
    const busy = new HttpError('busy', {
      code: 'http_503',
      status: 503,
      retryable: true,
      retryAfterMs: 5000,
    });
    expect(backoff.next(busy, 1000)?.delayMs).toBe(5000);
    expect(backoff.next(drop, 1000)?.delayMs).toBe(1000);
  });

  it('leaves time offline out of the outage it allows', async () => {
    const options = normalizeRetryOptions({ initialDelayMs: 1000, jitter: 'none', maxElapsedMs: 3000 });
    const lifecycle = createManualLifecycle();
    const backoff = createReconnectBackoff(options, lifecycle);
    const step = backoff.next(drop, undefined)!;
    lifecycle.setOnline(false);
    const waited = backoff.wait(step.delayMs, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(60_000);
    lifecycle.setOnline(true);
    await waited;
    // 60 s passed, all offline: the outage has lasted nothing, so a 2 s wait still fits in 3 s.
    expect(backoff.next(drop, undefined)).toMatchObject({ attempt: 2, delayMs: 2000, elapsedMs: 0 });
  });
});

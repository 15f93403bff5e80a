import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AbortError } from './errors.js';
import { createScheduler, rateLimitDelayMs } from './scheduler.js';

describe('rateLimitDelayMs', () => {
  it('allows starts under the limit and waits for the oldest blocking start to leave the window', () => {
    expect(rateLimitDelayMs([], 0, 2)).toBe(0);
    expect(rateLimitDelayMs([1000], 2000, 2)).toBe(0);
    expect(rateLimitDelayMs([1000, 5000], 6000, 2)).toBe(55_000);
    expect(rateLimitDelayMs([1000, 5000], 61_001, 2)).toBe(0);
    expect(rateLimitDelayMs([1000, 5000], 6000, Number.POSITIVE_INFINITY)).toBe(0);
  });
});

describe('createScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('admits waiters in FIFO order as slots free up', async () => {
    const scheduler = createScheduler({ maxConcurrent: 2 });
    const order: number[] = [];
    const releases = [1, 2, 3, 4, 5].map((n) =>
      scheduler.acquire().then((release) => {
        order.push(n);
        return release;
      }),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual([1, 2]);
    expect(scheduler.waiting).toBe(3);
    (await releases[1]!)();
    await vi.advanceTimersByTimeAsync(0);
    (await releases[0]!)();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(scheduler.active).toBe(2);
  });

  it('spaces starts to requestsPerMinute over a sliding window', async () => {
    const scheduler = createScheduler({ requestsPerMinute: 2 }, () => Date.now());
    const started: number[] = [];
    const t0 = Date.now();
    for (let n = 0; n < 5; n++) void scheduler.acquire().then(() => started.push(Date.now() - t0));
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual([0, 0]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(started).toEqual([0, 0, 60_000, 60_000]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(started).toHaveLength(5);
  });

  it('removes an aborted waiter without blocking those behind it', async () => {
    const scheduler = createScheduler({ maxConcurrent: 1 });
    const first = await scheduler.acquire();
    const controller = new AbortController();
    const aborted = scheduler.acquire(controller.signal);
    const third = scheduler.acquire();
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    first();
    await expect(third).resolves.toBeTypeOf('function');
  });
});

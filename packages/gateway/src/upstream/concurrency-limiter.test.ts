import { describe, expect, it, vi } from 'vitest';
import { ConcurrencyLimiter } from './concurrency-limiter.js';

describe('ConcurrencyLimiter', () => {
  it('holds at most maxConcurrent and grants waiters in arrival order', async () => {
    const limiter = new ConcurrencyLimiter('up', 2, 10_000);
    const signal = new AbortController().signal;
    const first = await limiter.acquire(signal);
    await limiter.acquire(signal);
    const order: number[] = [];
    const third = limiter.acquire(signal).then((release) => {
      order.push(3);
      return release;
    });
    const fourth = limiter.acquire(signal).then(() => order.push(4));
    expect([limiter.inFlight, limiter.queued]).toEqual([2, 2]);
    first();
    first();
    (await third)();
    await fourth;
    expect(order).toEqual([3, 4]);
    expect(limiter.inFlight).toBe(2);
  });

  it('refuses a waiter with 503 upstream_busy after the queue timeout', async () => {
    vi.useFakeTimers();
    try {
      const limiter = new ConcurrencyLimiter('up', 1, 500);
      await limiter.acquire(new AbortController().signal);
      const waiting = limiter.acquire(new AbortController().signal);
      const assertion = expect(waiting).rejects.toMatchObject({ status: 503, code: 'upstream_busy' });
      await vi.advanceTimersByTimeAsync(500);
      await assertion;
      expect(limiter.queued).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('drops an aborted waiter from the queue', async () => {
    const limiter = new ConcurrencyLimiter('up', 1, 10_000);
    const release = await limiter.acquire(new AbortController().signal);
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error('client left'));
    await expect(waiting).rejects.toThrow('client left');
    release();
    expect([limiter.inFlight, limiter.queued]).toEqual([0, 0]);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NetworkError } from './errors.js';
import { connectEventStream } from './event-stream.js';
import { createManualLifecycle } from './lifecycle.js';
import type { Transport } from './transport.js';

const refusing: Transport = async () => {
  throw new TypeError('connect ECONNREFUSED');
};

describe('connectEventStream retry timing (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits the capped exponential sequence between attempts, then gives up after maxAttempts', async () => {
    const delays: number[] = [];
    const stream = connectEventStream(
      'https://gw.test/events',
      {
        transport: refusing,
        lifecycle: createManualLifecycle(),
        retry: {
          initialDelayMs: 1000,
          maxDelayMs: 5000,
          jitter: 'none',
          maxAttempts: 5,
          maxElapsedMs: 60_000,
        },
      },
      {
        onStatus: (status) => {
          if (status.type === 'reconnecting') delays.push(status.delayMs);
        },
      },
    );
    const outcome = stream.done.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(999);
    expect(delays).toEqual([1000]);
    await vi.advanceTimersByTimeAsync(1);
    expect(delays).toEqual([1000, 2000]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000]);
    const error = await outcome;
    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ code: 'network_error', retryable: true });
    expect((error as Error).message).toContain('ECONNREFUSED');
    // Retries have run out: the final error must not promise another one.
    expect((error as Error).message).not.toMatch(/retr/i);
    expect(stream.stats()).toMatchObject({ reconnects: 5, stallMs: 17_000 });
  });

  it('stops when the next wait would exceed maxElapsedMs', async () => {
    let attempts = 0;
    const stream = connectEventStream('https://gw.test/events', {
      transport: async (request) => {
        attempts += 1;
        return refusing(request);
      },
      lifecycle: createManualLifecycle(),
      retry: { initialDelayMs: 1000, jitter: 'none', maxAttempts: 100, maxElapsedMs: 7000 },
    });
    const outcome = stream.done.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await outcome).toBeInstanceOf(NetworkError);
    // Waits of 1 s, 2 s and 4 s fit in 7 s; the next (8 s) would not.
    expect(attempts).toBe(4);
  });

  it('does not retry at all with retry: false', async () => {
    let attempts = 0;
    const stream = connectEventStream('https://gw.test/events', {
      transport: async (request) => {
        attempts += 1;
        return refusing(request);
      },
      lifecycle: createManualLifecycle(),
      retry: false,
    });
    await expect(stream.done).rejects.toBeInstanceOf(NetworkError);
    expect(attempts).toBe(1);
  });
});

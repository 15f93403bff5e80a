import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommandDeadlineError, withDeadline } from './command-deadline.js';

describe('withDeadline', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('rejects with command_timeout once the deadline passes, not a millisecond before', async () => {
    vi.useFakeTimers();
    const outcome = withDeadline(new Promise<never>(() => {}), 500).catch((error: unknown) => error);
    let settled = false;
    void outcome.then(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(CommandDeadlineError);
    expect(error).toMatchObject({ code: 'command_timeout', timeoutMs: 500, message: 'Command timed out' });
  });

  it("passes on the call's own answer or error and leaves no timer behind", async () => {
    vi.useFakeTimers();
    await expect(withDeadline(Promise.resolve('PONG'), 500)).resolves.toBe('PONG');
    await expect(withDeadline(Promise.reject(new Error('NOSCRIPT')), 500)).rejects.toThrow('NOSCRIPT');
    expect(vi.getTimerCount()).toBe(0);
  });
});

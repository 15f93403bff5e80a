import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createManualLifecycle, waitForReconnect } from './lifecycle.js';

describe('waitForReconnect', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits the delay while online', async () => {
    const lifecycle = createManualLifecycle(true);
    let resolved = false;
    void waitForReconnect({
      delayMs: 1000,
      signal: new AbortController().signal,
      lifecycle,
      wakeOnVisible: true,
    }).then(() => {
      resolved = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(resolved).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(resolved).toBe(true);
  });

  it('holds past the delay while offline and ends at once on online', async () => {
    const lifecycle = createManualLifecycle(false);
    let offlineMs = -1;
    const waiting = waitForReconnect({
      delayMs: 1000,
      signal: new AbortController().signal,
      lifecycle,
      wakeOnVisible: false,
      onOfflineTime: (milliseconds) => {
        offlineMs = milliseconds;
      },
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(offlineMs).toBe(-1);
    lifecycle.setOnline(true);
    await waiting;
    expect(offlineMs).toBe(60_000);
  });

  it('cuts a long backoff short when the device comes back online or the page becomes visible', async () => {
    const lifecycle = createManualLifecycle(true);
    const signal = new AbortController().signal;
    const online = waitForReconnect({ delayMs: 30_000, signal, lifecycle, wakeOnVisible: false });
    lifecycle.setOnline(true);
    await online;
    const visible = waitForReconnect({ delayMs: 30_000, signal, lifecycle, wakeOnVisible: true });
    lifecycle.setVisible(true);
    await visible;
  });

  it('rejects with the abort reason', async () => {
    const controller = new AbortController();
    const waiting = waitForReconnect({
      delayMs: 1000,
      signal: controller.signal,
      lifecycle: createManualLifecycle(),
      wakeOnVisible: false,
    });
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });
});

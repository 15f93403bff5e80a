import { describe, expect, it } from 'vitest';
import { StatsRecorder } from './stats.js';

describe('StatsRecorder', () => {
  it('measures time to first token, tokens per second and stall time on an injected clock', () => {
    let now = 1000;
    const recorder = new StatsRecorder(() => now);
    now = 1250;
    recorder.addToken();
    now = 1750;
    recorder.addToken();
    recorder.addToken();
    recorder.disconnected();
    now = 2750;
    expect(recorder.snapshot().stallMs).toBe(1000);
    recorder.reconnecting();
    now = 3250;
    recorder.connected();
    now = 3250;
    recorder.addBytes(10);
    const stats = recorder.snapshot();
    expect(stats).toMatchObject({
      timeToFirstTokenMs: 250,
      tokens: 3,
      reconnects: 1,
      bytes: 10,
      stallMs: 1500,
    });
    expect(stats.tokensPerSecond).toBe(4);
  });
});

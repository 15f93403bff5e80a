import { describe, expect, it } from 'vitest';
import {
  admitEntry,
  decideWindow,
  formatResetDuration,
  pruneWindow,
  retryAfterSeconds,
  setEntryCost,
  type WindowState,
} from './rate-window.js';

const T0 = 1_700_000_000_000;

function fill(count: number, start: number, stepMs: number, cost = 1): WindowState {
  let state: WindowState = [];
  for (let index = 0; index < count; index++) {
    state = admitEntry(state, { id: `e${index}`, at: start + index * stepMs, cost });
  }
  return state;
}

describe('decideWindow (sliding-window log)', () => {
  it('admits up to the limit and refuses the next with the wait until the oldest entry leaves', () => {
    const state = fill(3, T0, 10_000);
    expect(decideWindow(fill(2, T0, 10_000), T0 + 20_000, 1, 3)).toMatchObject({
      allowed: true,
      remaining: 0,
      retryAfterMs: 0,
    });
    expect(decideWindow(state, T0 + 25_000, 1, 3)).toEqual({
      allowed: false,
      remaining: 0,
      resetMs: 55_000,
      retryAfterMs: 35_000,
    });
  });

  it('never admits more than the limit in any 60 s span, however requests are spaced', () => {
    const limit = 5;
    let state: WindowState = [];
    const admitted: number[] = [];
    for (let now = T0; now < T0 + 300_000; now += 1_700) {
      if (decideWindow(state, now, 1, limit).allowed) {
        state = admitEntry(pruneWindow(state, now), { id: String(now), at: now, cost: 1 });
        admitted.push(now);
      }
    }
    for (const start of admitted) {
      expect(admitted.filter((at) => at >= start && at < start + 60_000).length).toBeLessThanOrEqual(limit);
    }
    // …and it is not stingy: every rolling minute after the first is full.
    expect(admitted.length).toBeGreaterThanOrEqual(limit * 5 - 1);
  });

  it('admits again exactly when the oldest entry is 60 s old', () => {
    const state = fill(2, T0, 1000);
    expect(decideWindow(state, T0 + 59_999, 1, 2).allowed).toBe(false);
    expect(decideWindow(state, T0 + 60_000, 1, 2).allowed).toBe(true);
  });

  it('weighs costs: a refusal waits until enough tokens have left', () => {
    const state = fill(3, T0, 1000, 400); // 1200 used of 1500
    const decision = decideWindow(state, T0 + 5000, 800, 1500);
    expect(decision).toMatchObject({ allowed: false, remaining: 300 });
    expect(decision.retryAfterMs).toBe(T0 + 1000 + 60_000 - (T0 + 5000)); // two entries must leave
  });

  it('admits a cost above the whole limit only into an empty window', () => {
    expect(decideWindow([], T0, 5000, 1000)).toMatchObject({ allowed: true, remaining: 0 });
    expect(decideWindow(fill(1, T0, 0, 1), T0 + 1, 5000, 1000)).toMatchObject({
      allowed: false,
      retryAfterMs: 59_999,
    });
  });

  it('a zero-cost peek reports the state without charging', () => {
    expect(decideWindow(fill(1, T0, 0, 100), T0 + 20_500, 0, 1000)).toEqual({
      allowed: true,
      remaining: 900,
      resetMs: 39_500,
      retryAfterMs: 0,
    });
    expect(decideWindow([], T0, 0, 1000)).toEqual({
      allowed: true,
      remaining: 1000,
      resetMs: 0,
      retryAfterMs: 0,
    });
  });

  it('setEntryCost refunds or charges one entry and ignores unknown ids', () => {
    const state = fill(2, T0, 0, 100);
    expect(setEntryCost(state, 'e1', 30).map((entry) => entry.cost)).toEqual([100, 30]);
    expect(setEntryCost(state, 'e0', 150).map((entry) => entry.cost)).toEqual([150, 100]);
    expect(setEntryCost(state, 'nope', 1)).toBe(state);
  });

  it('admitEntry keeps entries ordered by time', () => {
    const state = admitEntry(fill(2, T0, 10), { id: 'late', at: T0 + 5, cost: 1 });
    expect(state.map((entry) => entry.id)).toEqual(['e0', 'late', 'e1']);
  });
});

describe('formatResetDuration (OpenAI / Go duration format)', () => {
  it.each([
    [0, '0s'],
    [20, '20ms'],
    [0.4, '1ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [59_951, '59.951s'],
    [60_000, '1m0s'],
    [360_000, '6m0s'],
    [90_250, '1m30.25s'],
    [3_723_004, '1h2m3.004s'],
  ])('formats %d ms as %s', (milliseconds, text) => {
    expect(formatResetDuration(milliseconds)).toBe(text);
  });

  it('rounds Retry-After up to whole seconds, at least 1', () => {
    expect([retryAfterSeconds(0), retryAfterSeconds(1), retryAfterSeconds(1001)]).toEqual([1, 1, 2]);
  });
});

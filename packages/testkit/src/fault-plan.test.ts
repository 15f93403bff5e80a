import { seededRandom } from '@spool/protocol';
import { describe, expect, it } from 'vitest';
import {
  type ByteTrigger,
  drawBetween,
  faultsForConnection,
  orderTriggers,
  planConnection,
  splitChunk,
  THROTTLE_SLICE_MS,
  throttleStep,
} from './fault-plan.js';
import { cutAfterBytes, cutAtRandom, delay, refuse, stall, throttle } from './faults.js';

const info = { index: 3, remoteAddress: '127.0.0.1', remotePort: 5000 };

describe('faultsForConnection', () => {
  it('returns no faults without a plan and the fixed list for every connection', () => {
    expect(faultsForConnection(undefined, info)).toEqual([]);
    const fixed = [cutAfterBytes(5)];
    expect(faultsForConnection(fixed, info)).toBe(fixed);
  });

  it('calls a plan function with the connection index and info', () => {
    const seen: unknown[] = [];
    faultsForConnection((index, connectionInfo) => {
      seen.push(index, connectionInfo);
      return [];
    }, info);
    expect(seen).toEqual([3, info]);
  });
});

describe('planConnection', () => {
  it('puts each fault in its direction, sums delays and keeps the tightest throttle', () => {
    const plan = planConnection([
      delay(10),
      delay(5),
      delay(7, 'up'),
      throttle(1000),
      throttle(500),
      throttle(2000, 'up'),
      stall({ afterBytes: 4, forMs: 20 }),
    ]);
    expect(plan.refuse).toBe(false);
    expect(plan.down).toEqual({
      delayMs: 15,
      bytesPerSecond: 500,
      triggers: [{ atBytes: 4, action: 'stall', forMs: 20 }],
    });
    expect(plan.up).toEqual({ delayMs: 7, bytesPerSecond: 2000, triggers: [] });
  });

  it('marks a refusal', () => {
    expect(planConnection([refuse()]).refuse).toBe(true);
  });

  it('draws a random cut point per plan within the bounds, replayably from a seed', () => {
    const draw = (seed: number) =>
      Array.from({ length: 20 }, () =>
        planConnection([cutAtRandom({ minBytes: 10, maxBytes: 20, random: seededRandom(seed) })]),
      );
    const first = draw(7).map((plan) => plan.down.triggers[0]?.atBytes);
    expect(first).toEqual(draw(7).map((plan) => plan.down.triggers[0]?.atBytes));
    for (const atBytes of first) {
      expect(atBytes).toBeGreaterThanOrEqual(10);
      expect(atBytes).toBeLessThanOrEqual(20);
    }
  });
});

describe('orderTriggers', () => {
  it('sorts by byte position and drops everything after the first cut', () => {
    const triggers: ByteTrigger[] = [
      { atBytes: 50, action: 'stall', forMs: undefined },
      { atBytes: 30, action: 'cut' },
      { atBytes: 10, action: 'stall', forMs: 5 },
      { atBytes: 40, action: 'cut' },
    ];
    expect(orderTriggers(triggers)).toEqual([
      { atBytes: 10, action: 'stall', forMs: 5 },
      { atBytes: 30, action: 'cut' },
    ]);
  });

  it('puts a cut before a stall at the same byte, so the stall never happens', () => {
    expect(
      orderTriggers([
        { atBytes: 8, action: 'stall', forMs: undefined },
        { atBytes: 8, action: 'cut' },
      ]),
    ).toEqual([{ atBytes: 8, action: 'cut' }]);
  });
});

describe('splitChunk', () => {
  const cutAt37: ByteTrigger[] = [{ atBytes: 37, action: 'cut' }];

  it('splits the chunk that crosses a trigger exactly at its byte', () => {
    expect(splitChunk(30, 20, cutAt37, 0)).toEqual({
      parts: [
        { kind: 'data', start: 0, end: 7 },
        { kind: 'trigger', trigger: cutAt37[0] },
        { kind: 'data', start: 7, end: 20 },
      ],
      nextTrigger: 1,
    });
  });

  it('fires a trigger after the last byte of a chunk that ends exactly on it', () => {
    expect(splitChunk(0, 37, cutAt37, 0).parts).toEqual([
      { kind: 'data', start: 0, end: 37 },
      { kind: 'trigger', trigger: cutAt37[0] },
    ]);
  });

  it('passes chunks before the trigger and after a fired trigger through whole', () => {
    expect(splitChunk(0, 36, cutAt37, 0)).toEqual({
      parts: [{ kind: 'data', start: 0, end: 36 }],
      nextTrigger: 0,
    });
    expect(splitChunk(37, 10, cutAt37, 1)).toEqual({
      parts: [{ kind: 'data', start: 0, end: 10 }],
      nextTrigger: 1,
    });
  });

  it('fires a trigger at byte 0 on the empty start chunk', () => {
    const atZero: ByteTrigger[] = [{ atBytes: 0, action: 'stall', forMs: undefined }];
    expect(splitChunk(0, 0, atZero, 0)).toEqual({
      parts: [{ kind: 'trigger', trigger: atZero[0] }],
      nextTrigger: 1,
    });
  });

  it('handles several triggers inside one chunk', () => {
    const triggers: ByteTrigger[] = [
      { atBytes: 2, action: 'stall', forMs: 1 },
      { atBytes: 5, action: 'stall', forMs: 1 },
    ];
    expect(
      splitChunk(0, 6, triggers, 0).parts.map((part) => (part.kind === 'data' ? part.end - part.start : 'T')),
    ).toEqual([2, 'T', 3, 'T', 1]);
  });
});

describe('throttleStep', () => {
  it('sends a slice of 50 ms worth of bytes and schedules the next by the rate', () => {
    const step = throttleStep({ nowMs: 1000, nextSendAtMs: 0, bytesPerSecond: 2000, pendingBytes: 5000 });
    expect(THROTTLE_SLICE_MS).toBe(50);
    expect(step).toEqual({ waitMs: 0, sliceBytes: 100, nextSendAtMs: 1050 });
  });

  it('waits until the next send time', () => {
    expect(
      throttleStep({ nowMs: 1020, nextSendAtMs: 1050, bytesPerSecond: 2000, pendingBytes: 5000 }),
    ).toEqual({
      waitMs: 30,
      sliceBytes: 0,
      nextSendAtMs: 1050,
    });
  });

  it('sends short remainders whole and at least one byte at very low rates', () => {
    expect(
      throttleStep({ nowMs: 0, nextSendAtMs: 0, bytesPerSecond: 2000, pendingBytes: 40 }).sliceBytes,
    ).toBe(40);
    expect(throttleStep({ nowMs: 0, nextSendAtMs: 0, bytesPerSecond: 1, pendingBytes: 40 })).toEqual({
      waitMs: 0,
      sliceBytes: 1,
      nextSendAtMs: 1000,
    });
  });

  it('does not let an idle period turn into a burst', () => {
    const step = throttleStep({
      nowMs: 10_000,
      nextSendAtMs: 50,
      bytesPerSecond: 2000,
      pendingBytes: 1_000_000,
    });
    expect(step.sliceBytes).toBe(100);
  });
});

describe('drawBetween', () => {
  it('covers both ends of the range', () => {
    expect(drawBetween(5, 9, () => 0)).toBe(5);
    expect(drawBetween(5, 9, () => 0.999_999)).toBe(9);
    expect(drawBetween(5, 5, () => 0.5)).toBe(5);
  });
});

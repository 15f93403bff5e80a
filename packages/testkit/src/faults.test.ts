import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import { cutAfterBytes, cutAtRandom, delay, describeFault, refuse, stall, throttle } from './faults.js';

describe('fault constructors', () => {
  it('default to the down direction (the response stream)', () => {
    expect(cutAfterBytes(3).direction).toBe('down');
    expect(cutAtRandom({ maxBytes: 3 }).direction).toBe('down');
    expect(stall().direction).toBe('down');
    expect(delay(1).direction).toBe('down');
    expect(throttle(1).direction).toBe('down');
  });

  it('reject negative, fractional and empty-range values with code invalid_argument', () => {
    const attempts = [
      () => cutAfterBytes(-1),
      () => cutAfterBytes(1.5),
      () => cutAtRandom({ minBytes: 10, maxBytes: 5 }),
      () => stall({ afterBytes: -2 }),
      () => delay(Number.NaN),
      () => throttle(0),
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrow(InvalidArgumentError);
      expect(attempt).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    }
  });

  it('describe themselves for logs', () => {
    expect(
      [
        cutAfterBytes(37),
        cutAtRandom({ minBytes: 1, maxBytes: 9, direction: 'up' }),
        stall({ afterBytes: 4 }),
        stall({ afterBytes: 4, forMs: 100 }),
        delay(20),
        throttle(512),
        refuse(),
      ].map(describeFault),
    ).toEqual([
      'cutAfterBytes(37, down)',
      'cutAtRandom(1-9, up)',
      'stall(after 4, forever, down)',
      'stall(after 4, 100ms, down)',
      'delay(20ms, down)',
      'throttle(512B/s, down)',
      'refuse()',
    ]);
  });
});

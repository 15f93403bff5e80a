import { describe, expect, it } from 'vitest';
import { FaultBudget, parseFaultSpec } from './fault-spec.js';

describe('fault spec', () => {
  it('parses every directive', () => {
    expect(
      parseFaultSpec(
        'status=429; retry-after=2, times=1;key=run-1;drop-after=3;stall-after=4;stall-ms=5;error-after=6;ttft-ms=7;tps=8',
      ),
    ).toEqual({
      status: 429,
      retryAfterSeconds: 2,
      times: 1,
      key: 'run-1',
      dropAfter: 3,
      stallAfter: 4,
      stallMs: 5,
      errorAfter: 6,
      ttftMs: 7,
      tokensPerSecond: 8,
    });
  });

  it.each(['status=200', 'nonsense', 'drop-after=-1', 'frobnicate=1', 'tps=fast'])(
    'refuses %s with a message',
    (spec) => {
      expect(() => parseFaultSpec(spec)).toThrow(/X-Spool-Fault/);
    },
  );

  it('applies a times=n fault to the first n requests of its key only', () => {
    const budget = new FaultBudget();
    const spec = parseFaultSpec('status=503;times=2;key=a');
    expect([budget.applies(spec), budget.applies(spec), budget.applies(spec)]).toEqual([true, true, false]);
    expect(budget.applies(parseFaultSpec('status=503;times=2;key=b'))).toBe(true);
    expect(budget.applies(parseFaultSpec('tps=5'))).toBe(false);
  });
});

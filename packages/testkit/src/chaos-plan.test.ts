import { seededRandom } from '@spool/protocol';
import { describe, expect, it } from 'vitest';
import { parseChaosArgs } from './chaos-args.js';
import { buildChaosPlan } from './chaos-plan.js';
import { faultsForConnection } from './fault-plan.js';
import { describeFault } from './faults.js';

function faultsOf(argv: string[], connections: number): string[][] {
  const plan = buildChaosPlan(parseChaosArgs(argv), seededRandom(1));
  return Array.from({ length: connections }, (_, index) =>
    faultsForConnection(plan, { index, remoteAddress: undefined, remotePort: undefined }).map(describeFault),
  );
}

describe('buildChaosPlan', () => {
  it('applies the faults to every connection by default', () => {
    expect(faultsOf(['--cut-after-bytes', '9', '--delay-ms', '5'], 2)).toEqual([
      ['cutAfterBytes(9, down)', 'delay(5ms, down)'],
      ['cutAfterBytes(9, down)', 'delay(5ms, down)'],
    ]);
  });

  it('applies them to every K-th connection, counting from 1, and refuses every K-th before that', () => {
    expect(
      faultsOf(['--stall-after-bytes', '3', '--stall-ms', '10', '--every', '2', '--refuse-every', '3'], 6),
    ).toEqual([
      [],
      ['stall(after 3, 10ms, down)'],
      ['refuse()'],
      ['stall(after 3, 10ms, down)'],
      [],
      ['refuse()'],
    ]);
  });

  it('maps --cut-random and --throttle-bps to their faults', () => {
    expect(faultsOf(['--cut-random', '5-10', '--throttle-bps', '100'], 1)).toEqual([
      ['cutAtRandom(5-10, down)', 'throttle(100B/s, down)'],
    ]);
  });
});

import type { ChaosOptions } from './chaos-args.js';
import type { FaultPlan } from './fault-plan.js';
import { cutAfterBytes, cutAtRandom, delay, type Fault, refuse, stall, throttle } from './faults.js';

/**
 * Turns `spool chaos` options into a plan: connection number n (1-based) is refused when
 * `refuseEvery` divides n, otherwise gets the faults when `every` divides n. Random cuts draw from
 * `random`, so a seed replays the same schedule for the same order of connections.
 */
export function buildChaosPlan(options: ChaosOptions, random: () => number): FaultPlan {
  const faults: Fault[] = [];
  if (options.cutAfterBytes !== undefined) faults.push(cutAfterBytes(options.cutAfterBytes));
  if (options.cutRandom !== undefined) faults.push(cutAtRandom({ ...options.cutRandom, random }));
  if (options.stallAfterBytes !== undefined) {
    faults.push(stall({ afterBytes: options.stallAfterBytes, forMs: options.stallMs }));
  }
  if (options.delayMs !== undefined) faults.push(delay(options.delayMs));
  if (options.throttleBps !== undefined) faults.push(throttle(options.throttleBps));
  return (connectionIndex) => {
    const number = connectionIndex + 1;
    if (options.refuseEvery !== undefined && number % options.refuseEvery === 0) return [refuse()];
    return number % options.every === 0 ? faults : [];
  };
}

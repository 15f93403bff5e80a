import { cutAfterBytes, type Fault, seededRandom, stall } from '@spool/testkit';

/** A fault the sim applies before the first byte, sent as `X-Spool-Fault` on every attempt of one stream. */
export interface StatusFault {
  status: 503 | 429;
  /** `Retry-After` seconds the sim sends; `undefined` sends none. */
  retryAfterSeconds: 0 | 1 | undefined;
  /** Unique per stream, so `times=1` fails exactly one upstream request. */
  key: string;
}

/** What one chaos stream asks and which faults it meets, drawn up front so a seed replays it. */
export interface ChaosStreamPlan {
  index: number;
  prompt: string;
  /** Fault of the proxy's n-th connection for this stream (`undefined`: clean); later ones are clean. */
  connectionFaults: Array<Fault | undefined>;
  statusFault: StatusFault | undefined;
}

/** How a chaos run is shaped. */
export interface ChaosPlanOptions {
  seed: number;
  streams: number;
  /** Fewest and most proxy faults per stream. */
  minFaults: number;
  maxFaults: number;
  /** Cuts and stalls land at a byte offset in [0, maxOffsetBytes] of a connection's response bytes. */
  maxOffsetBytes: number;
  /** Share of proxy faults that are stalls (the rest are cuts). */
  stallShare: number;
  /** Share of streams that also get a 503/429 before the first byte. */
  statusShare: number;
  /** How many of those carry `Retry-After: 1` (slow, so few). */
  retryAfterOneCount: number;
}

const WORDS = ['tunnel', 'train', 'wifi', 'elevator', 'roaming', 'laptop', 'lid', 'proxy', 'spool', 'resume'];

/** Draws every stream's prompt and faults from `seed`, in stream order, independent of timing. */
export function drawChaosPlan(options: ChaosPlanOptions): ChaosStreamPlan[] {
  const random = seededRandom(options.seed);
  const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const plans: ChaosStreamPlan[] = [];
  let retryAfterOneLeft = options.retryAfterOneCount;
  for (let index = 0; index < options.streams; index++) {
    const words = Array.from({ length: between(2, 6) }, () => WORDS[between(0, WORDS.length - 1)]);
    const connectionFaults: Array<Fault | undefined> = [];
    const faultCount = between(options.minFaults, options.maxFaults);
    for (let fault = 0; fault < faultCount; fault++) {
      const afterBytes = between(0, options.maxOffsetBytes);
      // A stall lasts until the client's idle watchdog gives up on the connection and closes it.
      connectionFaults.push(
        random() < options.stallShare ? stall({ afterBytes }) : cutAfterBytes(afterBytes),
      );
    }
    let statusFault: StatusFault | undefined;
    if (random() < options.statusShare) {
      const status = random() < 0.5 ? 503 : 429;
      let retryAfterSeconds: StatusFault['retryAfterSeconds'] = random() < 0.5 ? 0 : undefined;
      if (retryAfterOneLeft > 0 && random() < 0.1) {
        retryAfterOneLeft -= 1;
        retryAfterSeconds = 1;
        // A clean first connection, so the 503/429 and its Retry-After reach the client intact.
        connectionFaults.unshift(undefined);
      }
      statusFault = { status, retryAfterSeconds, key: `chaos-${options.seed}-${index}` };
    }
    plans.push({
      index,
      prompt: `Chaos stream ${index}: ${words.join(' ')}`,
      connectionFaults,
      statusFault,
    });
  }
  return plans;
}

/** The `X-Spool-Fault` header value of a status fault. */
export function statusFaultHeader(fault: StatusFault): string {
  const retryAfter = fault.retryAfterSeconds === undefined ? '' : `;retry-after=${fault.retryAfterSeconds}`;
  return `status=${fault.status}${retryAfter};times=1;key=${fault.key}`;
}

/**
 * Aligns received tokens with the expected ones, in order: a received token that is not the next
 * expected one counts as duplicated (or foreign), and expected tokens never reached count as lost.
 */
export function compareTokens(
  expected: readonly string[],
  received: readonly string[],
): { lost: number; duplicated: number } {
  let next = 0;
  let duplicated = 0;
  for (const token of received) {
    if (token === expected[next]) next += 1;
    else duplicated += 1;
  }
  return { lost: expected.length - next, duplicated };
}

/** A two-column Markdown table. */
export function formatTable(title: string, rows: ReadonlyArray<readonly [string, string | number]>): string {
  const width = Math.max(...rows.map(([name]) => name.length), 6);
  const lines = [`${title}`, `| ${'metric'.padEnd(width)} | value`, `|${'-'.repeat(width + 2)}|------`];
  for (const [name, value] of rows) lines.push(`| ${name.padEnd(width)} | ${value}`);
  return lines.join('\n');
}

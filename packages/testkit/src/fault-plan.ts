import type { Direction, Fault } from './faults.js';

/** What the proxy knows about a connection when it asks a plan function for its faults. */
export interface ConnectionInfo {
  /** 0-based order in which the proxy accepted the connection. */
  index: number;
  /** The client's address as the proxy saw it. */
  remoteAddress: string | undefined;
  /** The client's port as the proxy saw it. */
  remotePort: number | undefined;
}

/** Faults for every connection, or a function choosing them per connection. */
export type FaultPlan =
  | readonly Fault[]
  | ((connectionIndex: number, info: ConnectionInfo) => readonly Fault[]);

/** Something that happens once a given number of bytes has been forwarded in one direction. */
export type ByteTrigger =
  | { atBytes: number; action: 'cut' }
  | { atBytes: number; action: 'stall'; forMs: number | undefined };

/** The faults of one direction of one connection, resolved to plain numbers. */
export interface DirectionPlan {
  /** Cuts and stalls, ordered by byte position; nothing follows a cut. */
  triggers: ByteTrigger[];
  /** Latency added to each chunk (delays add up). */
  delayMs: number;
  /** The tightest throttle, if any. */
  bytesPerSecond: number | undefined;
}

/** The faults of one connection, resolved: random cut points drawn, delays summed, triggers sorted. */
export interface ConnectionPlan {
  refuse: boolean;
  up: DirectionPlan;
  down: DirectionPlan;
}

/** Calls a plan function, or returns the fixed list; no plan means no faults. */
export function faultsForConnection(plan: FaultPlan | undefined, info: ConnectionInfo): readonly Fault[] {
  if (plan === undefined) return [];
  return typeof plan === 'function' ? plan(info.index, info) : plan;
}

function emptyDirectionPlan(): DirectionPlan {
  return { triggers: [], delayMs: 0, bytesPerSecond: undefined };
}

/** Draws a whole number uniformly from [min, max] with `random` in [0, 1). */
export function drawBetween(min: number, max: number, random: () => number): number {
  const span = max - min + 1;
  return min + Math.min(span - 1, Math.floor(random() * span));
}

/**
 * Resolves a connection's faults into per-direction plans. Random cut points are drawn here, once
 * per connection, so the proxy's socket code sees only fixed numbers.
 */
export function planConnection(faults: readonly Fault[]): ConnectionPlan {
  const plan: ConnectionPlan = { refuse: false, up: emptyDirectionPlan(), down: emptyDirectionPlan() };
  const byDirection = (direction: Direction): DirectionPlan => (direction === 'up' ? plan.up : plan.down);
  for (const fault of faults) {
    switch (fault.kind) {
      case 'refuse':
        plan.refuse = true;
        break;
      case 'cut':
        byDirection(fault.direction).triggers.push({ atBytes: fault.afterBytes, action: 'cut' });
        break;
      case 'cut-random':
        byDirection(fault.direction).triggers.push({
          atBytes: drawBetween(fault.minBytes, fault.maxBytes, fault.random),
          action: 'cut',
        });
        break;
      case 'stall':
        byDirection(fault.direction).triggers.push({
          atBytes: fault.afterBytes,
          action: 'stall',
          forMs: fault.forMs,
        });
        break;
      case 'delay':
        byDirection(fault.direction).delayMs += fault.ms;
        break;
      case 'throttle': {
        const direction = byDirection(fault.direction);
        direction.bytesPerSecond = Math.min(
          direction.bytesPerSecond ?? Number.POSITIVE_INFINITY,
          fault.bytesPerSecond,
        );
        break;
      }
    }
  }
  plan.up.triggers = orderTriggers(plan.up.triggers);
  plan.down.triggers = orderTriggers(plan.down.triggers);
  return plan;
}

/** Sorts triggers by position (a cut before a stall at the same byte) and drops all after the first cut. */
export function orderTriggers(triggers: readonly ByteTrigger[]): ByteTrigger[] {
  const sorted = [...triggers].sort(
    (left, right) =>
      left.atBytes - right.atBytes || (left.action === 'cut' ? -1 : 0) - (right.action === 'cut' ? -1 : 0),
  );
  const firstCut = sorted.findIndex((trigger) => trigger.action === 'cut');
  return firstCut === -1 ? sorted : sorted.slice(0, firstCut + 1);
}

/** A piece of a received chunk: bytes to forward, or a trigger that fires between bytes. */
export type ChunkPart =
  | { kind: 'data'; start: number; end: number }
  | { kind: 'trigger'; trigger: ByteTrigger };

/**
 * Splits a chunk at every trigger position it crosses. `receivedBefore` is how many bytes this
 * direction had received before the chunk; triggers before `nextTrigger` have already fired.
 * A trigger at the chunk's last byte comes after that byte, so `cutAfterBytes(n)` forwards exactly n.
 */
export function splitChunk(
  receivedBefore: number,
  chunkLength: number,
  triggers: readonly ByteTrigger[],
  nextTrigger: number,
): { parts: ChunkPart[]; nextTrigger: number } {
  const parts: ChunkPart[] = [];
  let offset = 0;
  let index = nextTrigger;
  for (let trigger = triggers[index]; trigger !== undefined; trigger = triggers[index]) {
    const position = trigger.atBytes - receivedBefore;
    if (position > chunkLength) break;
    if (position > offset) parts.push({ kind: 'data', start: offset, end: position });
    offset = Math.max(offset, position);
    parts.push({ kind: 'trigger', trigger });
    index += 1;
  }
  if (offset < chunkLength) parts.push({ kind: 'data', start: offset, end: chunkLength });
  return { parts, nextTrigger: index };
}

/** How long each throttled slice covers: small enough to look smooth, large enough to avoid 1-byte writes. */
export const THROTTLE_SLICE_MS = 50;

/**
 * One step of the throttle: how long to wait before the next write, how many bytes it may carry,
 * and when the write after it may go. A pure function of the clock so it can be tested exactly.
 */
export function throttleStep(input: {
  nowMs: number;
  nextSendAtMs: number;
  bytesPerSecond: number;
  pendingBytes: number;
}): { waitMs: number; sliceBytes: number; nextSendAtMs: number } {
  if (input.nowMs < input.nextSendAtMs) {
    return { waitMs: input.nextSendAtMs - input.nowMs, sliceBytes: 0, nextSendAtMs: input.nextSendAtMs };
  }
  const sliceLimit = Math.max(1, Math.floor((input.bytesPerSecond * THROTTLE_SLICE_MS) / 1000));
  const sliceBytes = Math.min(input.pendingBytes, sliceLimit);
  return { waitMs: 0, sliceBytes, nextSendAtMs: input.nowMs + (sliceBytes * 1000) / input.bytesPerSecond };
}

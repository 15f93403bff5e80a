import { InvalidArgumentError } from './errors.js';

/** Which way bytes flow: `up` is client → target, `down` is target → client (the response stream). */
export type Direction = 'up' | 'down';

/** Destroy both sockets once `afterBytes` bytes have passed in `direction`. */
export interface CutFault {
  kind: 'cut';
  afterBytes: number;
  direction: Direction;
}

/** Like {@link CutFault}, with the byte count drawn per connection from `random`. */
export interface RandomCutFault {
  kind: 'cut-random';
  minBytes: number;
  maxBytes: number;
  random: () => number;
  direction: Direction;
}

/** Stop forwarding after `afterBytes` bytes, sockets kept open; resume after `forMs` if set. */
export interface StallFault {
  kind: 'stall';
  afterBytes: number;
  forMs: number | undefined;
  direction: Direction;
}

/** Hold every chunk for `ms` before forwarding it. */
export interface DelayFault {
  kind: 'delay';
  ms: number;
  direction: Direction;
}

/** Forward at most `bytesPerSecond`, in small slices. */
export interface ThrottleFault {
  kind: 'throttle';
  bytesPerSecond: number;
  direction: Direction;
}

/** Accept the connection, then reset it at once without dialling the target. */
export interface RefuseFault {
  kind: 'refuse';
}

/** One fault the proxy injects into a connection. Build them with the functions in this file. */
export type Fault = CutFault | RandomCutFault | StallFault | DelayFault | ThrottleFault | RefuseFault;

function requireCount(param: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(param, `${param} must be a whole number ≥ 0, got ${value}`);
  }
  return value;
}

function requirePositive(param: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(param, `${param} must be a number > 0, got ${value}`);
  }
  return value;
}

/**
 * Cuts the connection once exactly `afterBytes` bytes have been forwarded in `direction`; the chunk
 * that crosses the mark is split there, so a cut can land mid-event. The receiving side gets those
 * bytes then end-of-stream; both sockets are then destroyed.
 *
 * @param direction - @default 'down'
 * @example createFaultProxy({ target, plan: [cutAfterBytes(37)] })
 */
export function cutAfterBytes(afterBytes: number, direction: Direction = 'down'): CutFault {
  return { kind: 'cut', afterBytes: requireCount('afterBytes', afterBytes), direction };
}

/** Options of {@link cutAtRandom}. */
export interface CutAtRandomOptions {
  /** Fewest bytes forwarded before the cut. @default 0 */
  minBytes?: number;
  /** Most bytes forwarded before the cut (inclusive). */
  maxBytes: number;
  /** Source of randomness in [0, 1); pass `seededRandom(seed)` for a replayable schedule. @default Math.random */
  random?: () => number;
  /** @default 'down' */
  direction?: Direction;
}

/** Cuts each connection after a byte count drawn uniformly from [minBytes, maxBytes]. */
export function cutAtRandom(options: CutAtRandomOptions): RandomCutFault {
  const minBytes = requireCount('minBytes', options.minBytes ?? 0);
  const maxBytes = requireCount('maxBytes', options.maxBytes);
  if (maxBytes < minBytes) {
    throw new InvalidArgumentError('maxBytes', `maxBytes (${maxBytes}) must be ≥ minBytes (${minBytes})`);
  }
  return {
    kind: 'cut-random',
    minBytes,
    maxBytes,
    random: options.random ?? Math.random,
    direction: options.direction ?? 'down',
  };
}

/** Options of {@link stall}. */
export interface StallOptions {
  /** Bytes forwarded before the stall begins. @default 0 */
  afterBytes?: number;
  /** How long to stall before forwarding again; unset stalls until the connection closes. @default undefined */
  forMs?: number;
  /** @default 'down' */
  direction?: Direction;
}

/**
 * Stops forwarding after `afterBytes` bytes while keeping both sockets open (the source is paused, so
 * backpressure reaches the sender), for `forMs` or for good.
 */
export function stall(options: StallOptions = {}): StallFault {
  return {
    kind: 'stall',
    afterBytes: requireCount('afterBytes', options.afterBytes ?? 0),
    forMs: options.forMs === undefined ? undefined : requireCount('forMs', options.forMs),
    direction: options.direction ?? 'down',
  };
}

/**
 * Adds `ms` of latency to every chunk; order is kept.
 *
 * @param direction - @default 'down'
 */
export function delay(ms: number, direction: Direction = 'down'): DelayFault {
  return { kind: 'delay', ms: requireCount('ms', ms), direction };
}

/**
 * Limits forwarding to `bytesPerSecond`, sending slices of about 50 ms worth of bytes.
 *
 * @param direction - @default 'down'
 */
export function throttle(bytesPerSecond: number, direction: Direction = 'down'): ThrottleFault {
  return { kind: 'throttle', bytesPerSecond: requirePositive('bytesPerSecond', bytesPerSecond), direction };
}

/** Accepts the connection then resets it at once (TCP RST), without dialling the target. */
export function refuse(): RefuseFault {
  return { kind: 'refuse' };
}

/** A short human-readable form of a fault, e.g. `cutAfterBytes(37, down)`, for logs. */
export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'cut':
      return `cutAfterBytes(${fault.afterBytes}, ${fault.direction})`;
    case 'cut-random':
      return `cutAtRandom(${fault.minBytes}-${fault.maxBytes}, ${fault.direction})`;
    case 'stall':
      return `stall(after ${fault.afterBytes}, ${fault.forMs === undefined ? 'forever' : `${fault.forMs}ms`}, ${fault.direction})`;
    case 'delay':
      return `delay(${fault.ms}ms, ${fault.direction})`;
    case 'throttle':
      return `throttle(${fault.bytesPerSecond}B/s, ${fault.direction})`;
    case 'refuse':
      return 'refuse()';
  }
}

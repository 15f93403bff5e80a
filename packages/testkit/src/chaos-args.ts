import { InvalidArgumentError } from './errors.js';
import type { TargetAddress } from './proxy-connection.js';

/** Everything `spool chaos` was asked to do, parsed and validated. */
export interface ChaosOptions {
  /** `--help`: print usage and stop. @default false */
  help: boolean;
  /** `--listen host:port`. @default { host: '127.0.0.1', port: 7070 } */
  listen: TargetAddress;
  /** `--target host:port`. @default { host: '127.0.0.1', port: 8787 } */
  target: TargetAddress;
  /** `--cut-after-bytes N`. @default undefined */
  cutAfterBytes: number | undefined;
  /** `--cut-random MIN-MAX`. @default undefined */
  cutRandom: { minBytes: number; maxBytes: number } | undefined;
  /** `--stall-after-bytes N`. @default undefined */
  stallAfterBytes: number | undefined;
  /** `--stall-ms N`: how long a stall lasts; without it a stall lasts until the connection closes. @default undefined */
  stallMs: number | undefined;
  /** `--delay-ms N`. @default undefined */
  delayMs: number | undefined;
  /** `--throttle-bps N`. @default undefined */
  throttleBps: number | undefined;
  /** `--refuse-every K`: reset every K-th connection. @default undefined */
  refuseEvery: number | undefined;
  /** `--every K`: apply the other faults to every K-th connection. @default 1 */
  every: number;
  /** `--seed S` for `--cut-random`; unset picks one and prints it. @default undefined */
  seed: number | undefined;
  /** `--buffer body|whole`: hold each HTTP response until it ends (see `createBufferingProxy`). @default undefined */
  buffer: 'body' | 'whole' | undefined;
}

/** Usage text of `spool chaos`. */
export const CHAOS_USAGE = `Usage: spool chaos [options]

A TCP proxy that injects faults between a client and a target (the gateway, the sim, Redis).

Options:
  --listen HOST:PORT         where to listen (default 127.0.0.1:7070)
  --target HOST:PORT         where to forward (default 127.0.0.1:8787)
  --cut-after-bytes N        cut the connection after N bytes downstream
  --cut-random MIN-MAX       cut after a random byte count in [MIN, MAX]
  --stall-after-bytes N      stop forwarding downstream after N bytes, sockets kept open
  --stall-ms N               resume a stall after N ms (default: stall until closed)
  --delay-ms N               add N ms of latency to every chunk downstream
  --throttle-bps N           limit downstream to N bytes per second
  --refuse-every K           reset every K-th connection on accept
  --every K                  apply the faults above to every K-th connection (default 1)
  --seed S                   seed for --cut-random (default: random, printed)
  --buffer body|whole        hold each HTTP response until it ends, as streaming-breaking proxies do:
                             body = headers at once, body at the end; whole = nothing until the end
  -h, --help                 show this help

Connections are numbered from 1 in the log; --every 2 hits #2, #4, …
Example: spool chaos --listen 127.0.0.1:7070 --target 127.0.0.1:8787 --cut-random 200-2000 --every 2
`;

const VALUE_FLAGS = new Set([
  '--listen',
  '--target',
  '--cut-after-bytes',
  '--cut-random',
  '--stall-after-bytes',
  '--stall-ms',
  '--delay-ms',
  '--throttle-bps',
  '--refuse-every',
  '--every',
  '--seed',
  '--buffer',
]);

function parseWhole(flag: string, text: string, minimum: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new InvalidArgumentError(flag, `${flag} expects a whole number ≥ ${minimum}, got "${text}"`);
  }
  return value;
}

/** Reads `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` (host 127.0.0.1); port 0 means any free port. */
export function parseHostPort(flag: string, text: string): TargetAddress {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const plain = /^([^:[\]]*):(\d+)$/.exec(text);
  const bare = /^(\d+)$/.exec(text);
  const host = bracketed?.[1] ?? (plain?.[1] || '127.0.0.1');
  const portText = bracketed?.[2] ?? plain?.[2] ?? bare?.[1];
  const port = Number(portText);
  if (portText === undefined || port > 65_535) {
    throw new InvalidArgumentError(flag, `${flag} expects HOST:PORT (e.g. 127.0.0.1:7070), got "${text}"`);
  }
  return { host, port };
}

function parseRange(flag: string, text: string): { minBytes: number; maxBytes: number } {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (!match?.[1] || !match[2])
    throw new InvalidArgumentError(flag, `${flag} expects MIN-MAX (e.g. 200-2000), got "${text}"`);
  const minBytes = parseWhole(flag, match[1], 0);
  const maxBytes = parseWhole(flag, match[2], 0);
  if (maxBytes < minBytes)
    throw new InvalidArgumentError(flag, `${flag}: MIN (${minBytes}) must not exceed MAX (${maxBytes})`);
  return { minBytes, maxBytes };
}

/**
 * Parses `spool chaos` arguments (without the `chaos` word). Pure: throws an
 * {@link InvalidArgumentError} (code `invalid_argument`, `param` = the flag) on anything it cannot use.
 *
 * @example parseChaosArgs(['--target', '127.0.0.1:8787', '--cut-after-bytes', '500'])
 */
export function parseChaosArgs(argv: readonly string[]): ChaosOptions {
  const options: ChaosOptions = {
    help: false,
    listen: { host: '127.0.0.1', port: 7070 },
    target: { host: '127.0.0.1', port: 8787 },
    cutAfterBytes: undefined,
    cutRandom: undefined,
    stallAfterBytes: undefined,
    stallMs: undefined,
    delayMs: undefined,
    throttleBps: undefined,
    refuseEvery: undefined,
    every: 1,
    seed: undefined,
    buffer: undefined,
  };
  for (let position = 0; position < argv.length; position += 1) {
    const argument = argv[position] ?? '';
    if (argument === '-h' || argument === '--help') {
      options.help = true;
      continue;
    }
    const equals = argument.indexOf('=');
    const flag = argument.startsWith('--') && equals !== -1 ? argument.slice(0, equals) : argument;
    if (!VALUE_FLAGS.has(flag)) {
      const what = argument.startsWith('-') ? `unknown flag ${flag}` : `unexpected argument "${argument}"`;
      throw new InvalidArgumentError(flag, `${what}; see spool chaos --help`);
    }
    let value: string | undefined;
    if (equals !== -1 && flag !== argument) value = argument.slice(equals + 1);
    else {
      value = argv[position + 1];
      position += 1;
    }
    if (value === undefined || (value.startsWith('--') && flag === argument)) {
      throw new InvalidArgumentError(flag, `${flag} needs a value; see spool chaos --help`);
    }
    applyFlag(options, flag, value);
  }
  return checkCombination(options);
}

function applyFlag(options: ChaosOptions, flag: string, value: string): void {
  switch (flag) {
    case '--listen':
      options.listen = parseHostPort(flag, value);
      break;
    case '--target':
      options.target = parseHostPort(flag, value);
      if (options.target.port === 0) throw new InvalidArgumentError(flag, `${flag} needs a real port, not 0`);
      break;
    case '--cut-after-bytes':
      options.cutAfterBytes = parseWhole(flag, value, 0);
      break;
    case '--cut-random':
      options.cutRandom = parseRange(flag, value);
      break;
    case '--stall-after-bytes':
      options.stallAfterBytes = parseWhole(flag, value, 0);
      break;
    case '--stall-ms':
      options.stallMs = parseWhole(flag, value, 0);
      break;
    case '--delay-ms':
      options.delayMs = parseWhole(flag, value, 0);
      break;
    case '--throttle-bps':
      options.throttleBps = parseWhole(flag, value, 1);
      break;
    case '--refuse-every':
      options.refuseEvery = parseWhole(flag, value, 1);
      break;
    case '--every':
      options.every = parseWhole(flag, value, 1);
      break;
    case '--seed':
      options.seed = parseWhole(flag, value, 0);
      break;
    case '--buffer':
      if (value !== 'body' && value !== 'whole')
        throw new InvalidArgumentError(flag, `${flag} expects body or whole, got "${value}"`);
      options.buffer = value;
      break;
  }
}

function checkCombination(options: ChaosOptions): ChaosOptions {
  if (options.cutAfterBytes !== undefined && options.cutRandom !== undefined) {
    throw new InvalidArgumentError('--cut-random', 'use either --cut-after-bytes or --cut-random, not both');
  }
  if (options.stallMs !== undefined && options.stallAfterBytes === undefined) {
    throw new InvalidArgumentError(
      '--stall-ms',
      '--stall-ms needs --stall-after-bytes (use 0 to stall at once)',
    );
  }
  return options;
}

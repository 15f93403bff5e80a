import { describe, expect, it } from 'vitest';
import { parseChaosArgs, parseHostPort } from './chaos-args.js';
import { InvalidArgumentError } from './errors.js';

function errorOf(argv: string[]): InvalidArgumentError {
  try {
    parseChaosArgs(argv);
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error(`parseChaosArgs(${JSON.stringify(argv)}) did not throw`);
}

describe('parseChaosArgs', () => {
  it('uses the documented defaults with no flags', () => {
    expect(parseChaosArgs([])).toEqual({
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
    });
  });

  it('reads every flag, as --flag value and as --flag=value', () => {
    expect(
      parseChaosArgs([
        '--listen',
        '127.0.0.1:7070',
        '--target=localhost:9000',
        '--cut-random',
        '200-2000',
        '--stall-after-bytes=10',
        '--stall-ms',
        '500',
        '--delay-ms',
        '20',
        '--throttle-bps',
        '4096',
        '--refuse-every',
        '5',
        '--every',
        '2',
        '--seed',
        '42',
      ]),
    ).toMatchObject({
      listen: { host: '127.0.0.1', port: 7070 },
      target: { host: 'localhost', port: 9000 },
      cutRandom: { minBytes: 200, maxBytes: 2000 },
      stallAfterBytes: 10,
      stallMs: 500,
      delayMs: 20,
      throttleBps: 4096,
      refuseEvery: 5,
      every: 2,
      seed: 42,
    });
    expect(parseChaosArgs(['--cut-after-bytes', '37']).cutAfterBytes).toBe(37);
  });

  it('reads --buffer body|whole and refuses any other kind', () => {
    expect(parseChaosArgs(['--buffer', 'body']).buffer).toBe('body');
    expect(parseChaosArgs(['--buffer=whole']).buffer).toBe('whole');
    expect(parseChaosArgs([]).buffer).toBeUndefined();
    const error = errorOf(['--buffer', 'headers']);
    expect(error.param).toBe('--buffer');
    expect(error.message).toContain('body or whole');
  });

  it('recognises --help and -h', () => {
    expect(parseChaosArgs(['--help']).help).toBe(true);
    expect(parseChaosArgs(['-h', '--every', '3']).help).toBe(true);
  });

  it.each([
    [['--bogus'], '--bogus', /unknown flag --bogus/],
    [['extra'], 'extra', /unexpected argument "extra"/],
    [['--cut-after-bytes'], '--cut-after-bytes', /needs a value/],
    [['--cut-after-bytes', '--every', '2'], '--cut-after-bytes', /needs a value/],
    [['--cut-after-bytes', '-5'], '--cut-after-bytes', /whole number ≥ 0, got "-5"/],
    [['--cut-after-bytes', '1.5'], '--cut-after-bytes', /whole number/],
    [['--every', '0'], '--every', /whole number ≥ 1/],
    [['--throttle-bps', '0'], '--throttle-bps', /whole number ≥ 1/],
    [['--cut-random', '10'], '--cut-random', /MIN-MAX/],
    [['--cut-random', '20-10'], '--cut-random', /must not exceed/],
    [['--listen', 'nowhere'], '--listen', /HOST:PORT/],
    [['--target', '127.0.0.1:99999'], '--target', /HOST:PORT/],
    [['--target', ':0'], '--target', /real port/],
    [['--cut-after-bytes', '5', '--cut-random', '1-2'], '--cut-random', /either/],
    [['--stall-ms', '100'], '--stall-ms', /needs --stall-after-bytes/],
  ])('rejects %j with a message naming %s', (argv, param, message) => {
    const error = errorOf(argv);
    expect(error.code).toBe('invalid_argument');
    expect(error.param).toBe(param);
    expect(error.message).toMatch(message);
  });
});

describe('parseHostPort', () => {
  it('reads host:port, [ipv6]:port, :port and a bare port', () => {
    expect(parseHostPort('--listen', '0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 });
    expect(parseHostPort('--listen', '[::1]:7070')).toEqual({ host: '::1', port: 7070 });
    expect(parseHostPort('--listen', ':7070')).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(parseHostPort('--listen', '7070')).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(parseHostPort('--listen', '127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('rejects a bare IPv6 address and a missing port', () => {
    expect(() => parseHostPort('--listen', '::1:80')).toThrow(/HOST:PORT/);
    expect(() => parseHostPort('--listen', 'localhost:')).toThrow(/HOST:PORT/);
  });
});

import { seededRandom } from '@spool/protocol';
import { type BufferingProxy, createBufferingProxy } from './buffering-proxy.js';
import { CHAOS_USAGE, type ChaosOptions, parseChaosArgs } from './chaos-args.js';
import { buildChaosPlan } from './chaos-plan.js';
import { InvalidArgumentError, TestkitError } from './errors.js';
import { createFaultProxy } from './fault-proxy.js';
import { formatProxyEvent } from './proxy-events.js';

/** Where `spool chaos` writes and which signals stop it; tests pass their own. */
export interface ChaosCommandIo {
  /** One line per connection and fault. @default process.stdout */
  stdout?: { write(text: string): unknown };
  /** Usage errors and failures. @default process.stderr */
  stderr?: { write(text: string): unknown };
  /** Emits `SIGINT` / `SIGTERM` to stop the proxy. @default process */
  signals?: {
    once(event: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
    off(event: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  };
}

/** Exit code for a flag `spool chaos` cannot use. */
export const CHAOS_USAGE_EXIT_CODE = 2;

function describeSchedule(options: ChaosOptions, seed: number): string {
  const parts: string[] = [];
  if (options.cutAfterBytes !== undefined) parts.push(`cut after ${options.cutAfterBytes} B`);
  if (options.cutRandom !== undefined) {
    parts.push(
      `cut at random in ${options.cutRandom.minBytes}-${options.cutRandom.maxBytes} B (seed ${seed})`,
    );
  }
  if (options.stallAfterBytes !== undefined) {
    parts.push(
      `stall after ${options.stallAfterBytes} B ${options.stallMs === undefined ? 'until closed' : `for ${options.stallMs} ms`}`,
    );
  }
  if (options.delayMs !== undefined) parts.push(`delay ${options.delayMs} ms`);
  if (options.throttleBps !== undefined) parts.push(`throttle ${options.throttleBps} B/s`);
  const scope =
    options.every === 1 ? 'every connection' : `connections #${options.every}, #${options.every * 2}, …`;
  const faults = parts.length === 0 ? 'no faults' : `${parts.join(', ')} on ${scope}`;
  return options.refuseEvery === undefined
    ? faults
    : `${faults}; refuse connections #${options.refuseEvery}, #${options.refuseEvery * 2}, …`;
}

function hostPort(address: { host: string; port: number }): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Runs `spool chaos`: starts the fault proxy, prints one line per connection and fault, and stops
 * on SIGINT/SIGTERM. Resolves with the exit code (0 stopped cleanly or `--help`, 1 could not start,
 * 2 bad flags) and never calls `process.exit`.
 *
 * @example process.exitCode = await runChaosCommand(process.argv.slice(3));
 */
export async function runChaosCommand(argv: readonly string[], io: ChaosCommandIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const signals = io.signals ?? process;
  let options: ChaosOptions;
  try {
    options = parseChaosArgs(argv);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    stderr.write(`spool chaos: ${error.message}\n`);
    return CHAOS_USAGE_EXIT_CODE;
  }
  if (options.help) {
    stdout.write(CHAOS_USAGE);
    return 0;
  }
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  let proxy: Awaited<ReturnType<typeof createFaultProxy>>;
  let buffering: BufferingProxy | undefined;
  try {
    proxy = await createFaultProxy({
      target: options.target,
      // With --buffer, the buffering proxy takes the address and forwards through the faults.
      listen: options.buffer ? { host: '127.0.0.1', port: 0 } : options.listen,
      plan: buildChaosPlan(options, seededRandom(seed)),
      onEvent: (event) => stdout.write(`${formatProxyEvent(event)}\n`),
    });
    if (options.buffer) {
      const faults = proxy;
      buffering = await createBufferingProxy({
        target: faults.address,
        listen: options.listen,
        mode: options.buffer,
      }).catch(async (error: unknown) => {
        await faults.close();
        throw error;
      });
    }
  } catch (error) {
    if (!(error instanceof TestkitError)) throw error;
    stderr.write(`spool chaos: ${error.message}\n`);
    return 1;
  }
  const listening = buffering ? { host: options.listen.host, port: buffering.port } : proxy.address;
  const buffered = options.buffer ? `buffering each response (${options.buffer}); ` : '';
  stdout.write(
    `spool chaos: listening on ${hostPort(listening)} → ${hostPort(options.target)}; ${buffered}${describeSchedule(options, seed)}\n`,
  );
  const signal = await new Promise<string>((resolve) => {
    const onInterrupt = (): void => stop('SIGINT');
    const onTerminate = (): void => stop('SIGTERM');
    const stop = (name: string): void => {
      signals.off('SIGINT', onInterrupt);
      signals.off('SIGTERM', onTerminate);
      resolve(name);
    };
    signals.once('SIGINT', onInterrupt);
    signals.once('SIGTERM', onTerminate);
  });
  await buffering?.close();
  await proxy.close();
  const { connections, cuts, stalls, refused } = proxy.stats;
  stdout.write(
    `spool chaos: ${signal}, stopped after ${connections} connections (${cuts} cut, ${stalls} stalled, ${refused} refused)\n`,
  );
  return 0;
}

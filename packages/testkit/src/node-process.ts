import { type ChildProcess, spawn } from 'node:child_process';
import {
  type ChildExit,
  childControls,
  killOnParentExit,
  recordOutput,
  stopChild,
  waitForExit,
} from './child-process-control.js';
import { ProcessStartError } from './errors.js';

/** Options of {@link spawnNodeProcess}. */
export interface SpawnNodeProcessOptions {
  /** Resolves the spawn when stdout matches it; use groups to capture e.g. the port. Not global. */
  readyPattern: RegExp;
  /** Added to (and overriding) this process's environment. @default {} */
  env?: Record<string, string | undefined>;
  /** Working directory. @default process.cwd() */
  cwd?: string;
  /** Flags for node itself, before the script (e.g. `--enable-source-maps`). @default [] */
  nodeArgs?: string[];
  /** How long to wait for `readyPattern`. @default 10000 */
  startTimeoutMs?: number;
}

/** A running node child that has printed its ready line. */
export interface NodeProcess {
  /** The match of `readyPattern` against stdout. */
  match: RegExpMatchArray;
  child: ChildProcess;
  /** Everything it has written to stdout and stderr so far (last 64 KiB). */
  output(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 5 s). Idempotent. */
  stop(): Promise<ChildExit>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<ChildExit>;
}

/**
 * Spawns `node scriptPath ...args` and resolves once its stdout matches `readyPattern`; rejects with
 * {@link ProcessStartError} (with its output) if it exits first or the deadline passes.
 *
 * @example
 * const gateway = await spawnNodeProcess('packages/gateway/dist/bin/spool.js', ['serve', '--port', '0'],
 *   { readyPattern: /listening on (http:\S+)/ });
 * const baseURL = gateway.match[1];
 */
export async function spawnNodeProcess(
  scriptPath: string,
  args: readonly string[],
  options: SpawnNodeProcessOptions,
): Promise<NodeProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), scriptPath, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnParentExit(child);
  const output = recordOutput(child);
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  let stdoutText = '';
  let deadline: NodeJS.Timeout | undefined;
  const ready = new Promise<RegExpMatchArray>((resolve, reject) => {
    const onStdout = (chunk: Buffer): void => {
      stdoutText += chunk.toString('utf8');
      const match = stdoutText.match(options.readyPattern);
      if (!match) return;
      child.stdout?.off('data', onStdout);
      resolve(match);
    };
    child.stdout?.on('data', onStdout);
    child.once('error', (error) =>
      reject(new ProcessStartError('process_exited', `could not start node: ${error.message}`, output())),
    );
    void waitForExit(child).then(({ code, signal }) =>
      reject(
        new ProcessStartError(
          'process_exited',
          `${scriptPath} exited (code ${code}, signal ${signal}) before printing ${options.readyPattern}`,
          output(),
        ),
      ),
    );
    deadline = setTimeout(
      () =>
        reject(
          new ProcessStartError(
            'start_timeout',
            `${scriptPath} did not print ${options.readyPattern} within ${timeoutMs} ms`,
            output(),
          ),
        ),
      timeoutMs,
    );
  });
  let match: RegExpMatchArray;
  try {
    match = await ready;
  } catch (error) {
    await stopChild(child, 'SIGKILL', 0);
    throw error;
  } finally {
    clearTimeout(deadline);
  }
  return {
    match,
    child,
    output,
    ...childControls(child),
  };
}

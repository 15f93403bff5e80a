import type { ChildProcess } from 'node:child_process';

/** How a child process ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when the child has exited (at once if it already has). */
export function waitForExit(child: ChildProcess): Promise<ChildExit> {
  // A child that failed to spawn (no pid) never emits 'exit'.
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * Sends `signal` and waits for the exit; escalates to SIGKILL if the child is still alive after
 * `graceMs`, so a stuck child cannot hang a test's teardown.
 */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<ChildExit> {
  const exited = waitForExit(child);
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return exited;
  child.kill(signal);
  let escalation: NodeJS.Timeout | undefined;
  if (signal !== 'SIGKILL') escalation = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(escalation);
  }
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Kills the child with SIGKILL if this process exits first, so a crashed test run does not leave
 * redis-server or a gateway behind holding a port.
 */
export function killOnParentExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const survivor of liveChildren) survivor.kill('SIGKILL');
  });
}

/** Keeps the last `limitChars` characters a child wrote to stdout and stderr, for error messages. */
export function recordOutput(child: ChildProcess, limitChars = 64 * 1024): () => string {
  let output = '';
  const append = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > limitChars) output = output.slice(-limitChars);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => output;
}

/**
 * The `stop()` and `kill()` of a started child: `stop` is graceful (SIGTERM, SIGKILL after 5 s) and
 * idempotent; `kill` is SIGKILL at once, to simulate a crash. Both resolve when it has exited.
 */
export function childControls(child: ChildProcess): {
  stop(): Promise<ChildExit>;
  kill(): Promise<ChildExit>;
} {
  let stopping: Promise<ChildExit> | undefined;
  return {
    stop: () => {
      stopping ??= stopChild(child, 'SIGTERM', 5000);
      return stopping;
    },
    kill: () => {
      stopping = stopChild(child, 'SIGKILL', 0);
      return stopping;
    },
  };
}

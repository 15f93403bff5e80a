/**
 * Child processes for the benchmarks: spawn with a raised open-file limit, wait for the line that
 * says a server is listening, read a process's CPU time and RSS from /proc, and kill everything the
 * bench started when it ends, even on error or Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Every process group this bench started; `killAll` ends them. */
const children = new Set();

/** A free TCP port on the loopback interface. */
export function getFreePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The hard open-file limit of this shell, which children can raise their soft limit to. */
export function hardFileLimit() {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const line = limits.split('\n').find((entry) => entry.startsWith('Max open files'));
    const hard = line?.split(/\s+/)[4];
    return hard === 'unlimited' ? 1_048_576 : Number(hard) || 1024;
  } catch {
    return 1024;
  }
}

/**
 * Spawns `command args` in its own process group through bash, so its soft open-file limit is raised
 * to the hard limit first (`ulimit -n` cannot be raised from inside Node).
 * @param {string} name label for errors
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, ipc?: boolean }} [options]
 */
export function spawnChild(name, command, args, options = {}) {
  const stdio = options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
  const child = spawn(
    'bash',
    ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', name, command, ...args],
    {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio,
      detached: true,
    },
  );
  children.add(child);
  child.output = '';
  const keep = (chunk) => {
    // Bounded: only the tail is kept, for error messages.
    child.output = (child.output + chunk.toString()).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.once('exit', () => children.delete(child));
  child.label = name;
  return child;
}

/** Resolves with the first match of `pattern` in the child's output; rejects on exit or timeout. */
export function waitForOutput(child, pattern, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    let timer;
    const check = () => {
      const match = child.output.match(pattern);
      if (!match) return;
      cleanup();
      resolve(match);
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`${child.label} exited (code ${code}) before it was ready:\n${child.output}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off('data', check);
      child.stderr.off('data', check);
      child.off('exit', onExit);
    };
    timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${child.label} not ready after ${timeoutMs} ms:\n${child.output}`));
    }, timeoutMs);
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

/** Polls `url` until it answers (any status), for servers that print nothing useful. */
export async function waitForHttp(url, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** Stops one child's process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // Workers a master leaves behind (nginx) are in the same group.
  signalGroup(child, 'SIGKILL');
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {}
}

/** Kills every child still running (synchronously, so it also works from an exit handler). */
export function killAll() {
  for (const child of children) signalGroup(child, 'SIGKILL');
  children.clear();
}

let exitHandlersInstalled = false;
/** Kills the children on exit, on Ctrl-C and on an uncaught error. */
export function installExitHandlers() {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU time of a process in ms, from /proc/<pid>/stat (utime + stime). */
export function cpuTimeMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces; fields resume after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size of a process in bytes, from /proc/<pid>/status. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = status.match(/^VmRSS:\s+(\d+) kB/m);
  return match ? Number(match[1]) * 1024 : 0;
}

/** The pids of a process and its descendants (nginx workers), from /proc. */
export function processTree(rootPid) {
  const parents = new Map();
  for (const entry of readdirProc()) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), parent);
    } catch {}
  }
  const tree = [rootPid];
  for (let index = 0; index < tree.length; index++) {
    for (const [pid, parent] of parents) if (parent === tree[index]) tree.push(pid);
  }
  return tree;
}

function readdirProc() {
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
}

/** Sum of the RSS of several processes, in bytes. */
export function totalRss(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      total += rssBytes(pid);
    } catch {}
  }
  return total;
}

/** Sum of the CPU time of several processes, in ms. */
export function totalCpuMs(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuTimeMs(pid);
    } catch {}
  }
  return total;
}

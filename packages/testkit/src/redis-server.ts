import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import {
  type ChildExit,
  childControls,
  killOnParentExit,
  recordOutput,
  stopChild,
  waitForExit,
} from './child-process-control.js';
import { BinaryNotFoundError, ProcessStartError } from './errors.js';
import { getFreePort } from './free-port.js';

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** The redis-server binary, a name on PATH or a path. @default 'redis-server' */
  bin?: string;
  /** Port to bind on 127.0.0.1. @default a free port */
  port?: number;
  /** How long to wait for the first PONG. @default 10000 */
  startTimeoutMs?: number;
  /** More `--name value` arguments for redis-server. @default [] */
  extraArgs?: string[];
}

/** A throwaway redis-server with no persistence, bound to loopback. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** The child process, for tests that need its pid. */
  child: ChildProcess;
  /** Everything it has logged so far (last 64 KiB). */
  output(): string;
  /** Graceful shutdown (SIGTERM, SIGKILL after 5 s); resolves when it has exited. Idempotent. */
  stop(): Promise<ChildExit>;
  /** SIGKILL, to simulate a crash; resolves when it has exited. */
  kill(): Promise<ChildExit>;
}

const PING_POLL_MS = 10;
const PORT_ATTEMPTS = 3;

/** Sends PING over a raw socket; true on `+PONG`, false if refused, loading or silent. */
export function pingRedis(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let reply = '';
    const finish = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.on('close', () => finish(false));
  });
}

/**
 * Starts `redis-server --port <free> --bind 127.0.0.1 --save "" --appendonly no` and resolves once it
 * answers PING, polling by connecting until `startTimeoutMs`. Throws {@link BinaryNotFoundError}
 * if redis-server is not installed and {@link ProcessStartError} if it exits or never answers.
 *
 * @example
 * const redis = await startRedisServer();
 * // … new Redis(redis.url) …
 * await redis.stop();
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const attempts = options.port === undefined ? PORT_ATTEMPTS : 1;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOnce(options, options.port ?? (await getFreePort()));
    } catch (error) {
      // getFreePort can race another process for the port; only that failure is worth a retry.
      const portTaken = error instanceof ProcessStartError && /address already in use/i.test(error.output);
      if (!portTaken || attempt >= attempts) throw error;
    }
  }
}

async function startOnce(options: RedisServerOptions, port: number): Promise<RedisServer> {
  const bin = options.bin ?? 'redis-server';
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    tmpdir(),
  ];
  const child = spawn(bin, [...args, ...(options.extraArgs ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = recordOutput(child);
  const spawnFailure = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      const message =
        error.code === 'ENOENT'
          ? `${bin} not found; install it: apt-get install redis-server (or pass { bin: '/path/to/redis-server' })`
          : `could not start ${bin}: ${error.message}`;
      reject(new BinaryNotFoundError(bin, message, { cause: error }));
    });
  });
  killOnParentExit(child);
  try {
    await Promise.race([
      spawnFailure,
      waitUntilAnswering(child, port, options.startTimeoutMs ?? 10_000, output),
    ]);
  } catch (error) {
    await stopChild(child, 'SIGKILL', 0);
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    child,
    output,
    ...childControls(child),
  };
}

async function waitUntilAnswering(
  child: ChildProcess,
  port: number,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exited = waitForExit(child);
  let exit: ChildExit | undefined;
  void exited.then((result) => {
    exit = result;
  });
  while (Date.now() < deadline) {
    if (exit) break;
    if (await pingRedis(port)) return;
    await Promise.race([new Promise((resolve) => setTimeout(resolve, PING_POLL_MS)), exited]);
  }
  if (exit) {
    throw new ProcessStartError(
      'process_exited',
      `redis-server exited (code ${exit.code}, signal ${exit.signal}) before answering PING on port ${port}`,
      output(),
    );
  }
  throw new ProcessStartError(
    'start_timeout',
    `redis-server did not answer PING on port ${port} within ${timeoutMs} ms`,
    output(),
  );
}

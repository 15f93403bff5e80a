/**
 * Starts the load generator (`loadgen.mjs`) in its own process and sends it jobs. The child is
 * spawned through bash so its open-file limit is raised like the targets'.
 */
import { fileURLToPath } from 'node:url';
import { spawnChild, stopChild } from './processes.mjs';

const LOADGEN = fileURLToPath(new URL('./loadgen.mjs', import.meta.url));

/** A running load generator: `run(kind, options)` resolves with the job's result. */
export async function startLoadgen() {
  const child = spawnChild('loadgen', process.execPath, [LOADGEN], { ipc: true });
  const pending = new Map();
  let nextId = 1;
  child.on('message', (message) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`loadgen: ${message.error}`));
    else waiter.resolve(message.result);
  });
  child.once('exit', (code) => {
    for (const waiter of pending.values())
      waiter.reject(new Error(`loadgen exited (${code}): ${child.output}`));
    pending.clear();
  });
  return {
    pid: child.pid,
    /**
     * Runs one job; rejects after `timeoutMs` so no bench can hang.
     * @param {'streams' | 'interleaved' | 'idle' | 'release' | 'resume'} kind
     */
    run(kind, options = {}, timeoutMs = 180_000) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`loadgen job ${kind} took longer than ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        child.send({ id, kind, ...options });
      });
    },
    stop: () => stopChild(child),
  };
}

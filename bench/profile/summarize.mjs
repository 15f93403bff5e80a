#!/usr/bin/env node
/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time,
 * with their file:line, and the share of time spent idle, in GC and in the program.
 *
 * With `--inclusive`, the table is total time instead: a function's own time plus everything it
 * called (each sample counted once per function on its stack), which is how a whole step of a
 * request (read the body, open the upstream, serve the stream) shows what it costs.
 *
 * Usage: node bench/profile/summarize.mjs <file.cpuprofile | directory> [--top 25] [--filter gateway] [--inclusive]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';

/**
 * Self time per function (ms), summed over every node of the profile with the same function,
 * file and line.
 * @param {{ nodes: any[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }} profile
 */
export function selfTimes(profile) {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  profile.samples.forEach((nodeId, index) => {
    selfUs.set(nodeId, (selfUs.get(nodeId) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  const byFunction = new Map();
  for (const [nodeId, microseconds] of selfUs) {
    const { callFrame } = byNode.get(nodeId);
    const where = callFrame.url ? `${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}` : '(native)';
    const key = `${callFrame.functionName || '(anonymous)'} ${where}`;
    const entry = byFunction.get(key) ?? { name: callFrame.functionName || '(anonymous)', where, selfMs: 0 };
    entry.selfMs += microseconds / 1000;
    byFunction.set(key, entry);
  }
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  return { totalMs, functions: [...byFunction.values()].sort((a, b) => b.selfMs - a.selfMs) };
}

/**
 * Total (inclusive) time per function (ms): every sample counts once for each distinct function
 * on its stack, so recursion is not counted twice.
 */
export function totalTimes(profile) {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (node) => {
    const { callFrame } = node;
    const where = callFrame.url ? `${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}` : '(native)';
    return {
      key: `${callFrame.functionName || '(anonymous)'} ${where}`,
      name: callFrame.functionName || '(anonymous)',
      where,
    };
  };
  const totals = new Map();
  profile.samples.forEach((nodeId, index) => {
    const microseconds = profile.timeDeltas[index] ?? 0;
    const seen = new Set();
    for (let id = nodeId; id !== undefined; id = parent.get(id)) {
      const { key, name, where } = keyOf(byNode.get(id));
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = totals.get(key) ?? { name, where, selfMs: 0 };
      entry.selfMs += microseconds / 1000;
      totals.set(key, entry);
    }
  });
  return [...totals.values()]
    .filter((entry) => !['(root)', '(program)', '(idle)'].includes(entry.name))
    .sort((a, b) => b.selfMs - a.selfMs);
}

function shortUrl(url) {
  const path = url.replace(/^file:\/\//, '');
  const root = process.cwd();
  return path.startsWith(root) ? relative(root, path) : path.replace(/^node:/, 'node:');
}

/** Time by category: idle, GC, program (everything that is not idle or GC). */
export function breakdown({ totalMs, functions }) {
  const of = (name) =>
    functions.filter((entry) => entry.name === name).reduce((sum, entry) => sum + entry.selfMs, 0);
  const idleMs = of('(idle)');
  const gcMs = of('(garbage collector)');
  return { totalMs, idleMs, gcMs, busyMs: totalMs - idleMs };
}

/** Busy self time by source file (the package a hot spot lives in); idle time is not a file's. */
export function byFile(functions) {
  const files = new Map();
  for (const entry of functions) {
    if (entry.name === '(idle)') continue;
    const file = entry.where.replace(/:\d+$/, '');
    files.set(file, (files.get(file) ?? 0) + entry.selfMs);
  }
  return [...files.entries()].sort((a, b) => b[1] - a[1]);
}

function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '25' },
      filter: { type: 'string' },
      inclusive: { type: 'boolean', default: false },
    },
  });
  const [input] = positionals;
  if (!input) throw new Error('usage: summarize.mjs <file.cpuprofile | directory> [--top n] [--filter text]');
  const files = statSync(input).isDirectory()
    ? readdirSync(input)
        .filter((name) => name.endsWith('.cpuprofile'))
        .map((name) => join(input, name))
    : [input];
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8'));
    const summary = selfTimes(profile);
    const { totalMs, idleMs, gcMs, busyMs } = breakdown(summary);
    const share = (ms) => `${((100 * ms) / Math.max(1, busyMs)).toFixed(1)}%`;
    process.stdout.write(
      `\n${file}\n  wall ${totalMs.toFixed(0)} ms, busy ${busyMs.toFixed(0)} ms (idle ${idleMs.toFixed(0)}, GC ${gcMs.toFixed(0)} = ${share(gcMs)} of busy)\n\n`,
    );
    const rows = (values.inclusive ? totalTimes(profile) : summary.functions)
      .filter((entry) => entry.name !== '(idle)')
      .filter((entry) => !values.filter || entry.where.includes(values.filter))
      .slice(0, Number(values.top));
    process.stdout.write(`  ${values.inclusive ? 'total ms' : ' self ms'} % busy  function  (file:line)\n`);
    for (const entry of rows) {
      process.stdout.write(
        `  ${entry.selfMs.toFixed(1).padStart(7)}  ${share(entry.selfMs).padStart(6)}  ${entry.name}  (${entry.where})\n`,
      );
    }
    process.stdout.write('\n  self ms by file (top 12)\n');
    for (const [where, ms] of byFile(summary.functions).slice(0, 12)) {
      process.stdout.write(`  ${ms.toFixed(1).padStart(7)}  ${share(ms).padStart(6)}  ${where}\n`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();

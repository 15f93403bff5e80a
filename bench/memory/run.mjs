#!/usr/bin/env node
/**
 * bench/memory: the gateway's memory per open idle stream. N clients POST a streamed completion
 * through the gateway (memory spool, or `--store redis`) to the standalone sim, which sends two events and then stalls
 * (`X-Spool-Fault: stall-after=2`), so every stream stays open and idle. The gateway's RSS is read
 * from /proc before and after; the difference over N is the figure (docs/benchmarks.md scenario 3b).
 *
 * Usage: node bench/memory/run.mjs [--streams 2000] [--runs 1] [--store memory|redis] [--baseline <spool.js of another build>] [--heap-snapshot]
 *  - `--store redis` runs each gateway with the Redis spool (its own redis-server, whose memory is
 *    not counted);
 *  - `--baseline` measures that build too, in the same rounds (before/after in one run);
 *  - `--heap-snapshot` also writes a heap snapshot of each gateway before and after opening the
 *    streams (`--heapsnapshot-signal=SIGUSR2`) and prints the growth per stream by constructor.
 *    Snapshots force a full GC, so RSS figures of such a run are a little lower.
 *  - `--keep-snapshots` keeps them; `heap-retainers.mjs` then groups the growth by what holds it.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLoadgen } from '../lib/loadgen-client.mjs';
import { hardFileLimit, installExitHandlers, killAll, rssBytes } from '../lib/processes.mjs';
import { markdownTable, median } from '../lib/stats.mjs';
import { assertBuilt, startSim, startSpool } from '../lib/targets.mjs';
import { diffSummaries, formatRows, summarizeSnapshot } from './heap-summary.mjs';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '1' },
    store: { type: 'string', default: 'memory' },
    baseline: { type: 'string' },
    'heap-snapshot': { type: 'boolean', default: false },
    'keep-snapshots': { type: 'boolean', default: false },
    top: { type: 'string', default: '25' },
  },
});
// The gateway holds two sockets per stream (client and upstream); leave room for everything else.
const MAX_STREAMS = Math.max(1, Math.floor((hardFileLimit() - 600) / 2));
const streams = Math.min(MAX_STREAMS, Math.max(1, Number(values.streams) || 2000));
const runs = Math.min(10, Math.max(1, Number(values.runs) || 1));
const SETTLE_MS = 2000;
if (values.store !== 'memory' && values.store !== 'redis')
  throw new Error(`--store must be memory or redis, got ${values.store}`);
const store = values.store;

installExitHandlers();
assertBuilt();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line) => process.stderr.write(`${line}\n`);

/** Starts a gateway build; with snapshots, under `--heapsnapshot-signal` writing into `directory`. */
async function startGateway(sim, cli, directory) {
  const previous = process.env.NODE_OPTIONS;
  if (directory)
    process.env.NODE_OPTIONS = `${previous ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${directory}`;
  // Nothing else is spawned while the gateway starts (redis-server, with the Redis store, is not
  // Node), so only the gateway sees the options.
  try {
    return await startSpool(sim, { store, ...(cli ? { cli } : {}) });
  } finally {
    if (previous === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = previous;
  }
}

/** Signals the gateway to write a heap snapshot and waits until the file is complete. */
async function takeSnapshot(pid, directory) {
  const known = new Set(readdirSync(directory));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 120_000;
  let file;
  let lastSize = -1;
  while (Date.now() < deadline) {
    await sleep(250);
    file ??= readdirSync(directory).find((name) => name.endsWith('.heapsnapshot') && !known.has(name));
    if (!file) continue;
    const size = statSync(join(directory, file)).size;
    // The snapshot is written on the main thread; a size that holds still for 250 ms is complete.
    if (size > 0 && size === lastSize) return join(directory, file);
    lastSize = size;
  }
  throw new Error(`no heap snapshot from ${pid} within 120 s`);
}

/** One measurement of one build: RSS before and after opening the idle streams. */
async function measure(loadgen, sim, name, cli) {
  const directory = values['heap-snapshot'] ? mkdtempSync(join(tmpdir(), `spool-heap-${name}-`)) : undefined;
  const target = await startGateway(sim, cli, directory);
  try {
    await loadgen.run('streams', { url: target.url, model: 'sim-fast', concurrency: 10, durationMs: 500 });
    await sleep(1000);
    const before = rssBytes(target.gatewayPid);
    const beforeSnapshot = directory ? await takeSnapshot(target.gatewayPid, directory) : undefined;
    const opened = await loadgen.run(
      'idle',
      {
        url: target.url,
        headers: { 'x-spool-fault': 'stall-after=2' },
        count: streams,
        timeoutMs: 60_000,
      },
      120_000,
    );
    await sleep(SETTLE_MS);
    const after = rssBytes(target.gatewayPid);
    const afterSnapshot = directory ? await takeSnapshot(target.gatewayPid, directory) : undefined;
    await loadgen.run('release');
    if (opened.failed > 0)
      log(`${name}: ${opened.failed} streams failed to open: ${JSON.stringify(opened.errors)}`);
    let heap;
    if (beforeSnapshot && afterSnapshot) {
      const summaryBefore = summarizeSnapshot(beforeSnapshot);
      const summaryAfter = summarizeSnapshot(afterSnapshot);
      heap = {
        growthPerStream: (summaryAfter.totalBytes - summaryBefore.totalBytes) / Math.max(1, opened.opened),
        rows: diffSummaries(summaryAfter, summaryBefore, Math.max(1, opened.opened)),
        files: [beforeSnapshot, afterSnapshot],
      };
    }
    return {
      opened: opened.opened,
      failed: opened.failed,
      rssBefore: before,
      rssAfter: after,
      perStream: opened.opened > 0 ? (after - before) / opened.opened : Number.NaN,
      heap,
    };
  } finally {
    await target.stop();
    if (directory && !values['keep-snapshots']) rmSync(directory, { recursive: true, force: true });
    else if (directory && existsSync(directory)) log(`snapshots kept in ${directory}`);
  }
}

async function main() {
  const sim = await startSim();
  const loadgen = await startLoadgen();
  const builds = { gateway: undefined };
  if (values.baseline) builds.baseline = values.baseline;
  const results = Object.fromEntries(Object.keys(builds).map((name) => [name, []]));
  try {
    for (let run = 0; run < runs; run++) {
      // Alternate the order so neither build always runs on a warmer machine.
      const order = Object.entries(builds);
      if (run % 2 === 1) order.reverse();
      for (const [name, cli] of order) {
        log(`run ${run + 1}/${runs}: ${name}, ${streams} idle streams`);
        const result = await measure(loadgen, sim, name, cli);
        log(`  ${(result.perStream / 1024).toFixed(1)} KB per stream (${result.opened} opened)`);
        results[name].push(result);
      }
    }
  } finally {
    await loadgen.stop();
    await sim.stop();
  }
  const kb = (bytes) => (bytes / 1024).toFixed(1);
  const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);
  const rows = Object.keys(builds).map((name) => {
    const list = results[name];
    const pick = (get) => median(list.map(get));
    return [
      name === 'baseline' ? `baseline (${values.baseline})` : 'gateway (this build)',
      String(pick((result) => result.opened)),
      mb(pick((result) => result.rssBefore)),
      mb(pick((result) => result.rssAfter)),
      kb(pick((result) => result.perStream)),
      list[0]?.heap ? kb(median(list.map((result) => result.heap?.growthPerStream))) : '–',
    ];
  });
  process.stdout.write(
    `\n### bench/memory: gateway (${store} spool) RSS per open idle stream, median of ${runs} run(s)\n\n` +
      `${streams} streams, each: client → gateway → sim, the sim stalls after two events.\n\n` +
      markdownTable(
        [
          'build',
          'streams open',
          'RSS before (MB)',
          'RSS after (MB)',
          'KB per stream',
          'JS heap KB per stream',
        ],
        rows,
      ) +
      '\n',
  );
  if (values['heap-snapshot']) {
    for (const name of Object.keys(builds)) {
      const heap = results[name][0]?.heap;
      if (!heap) continue;
      process.stdout.write(
        `\n#### ${name}: JS heap growth per stream by constructor (self size, first run)\n\n${formatRows(heap.rows, Number(values.top), 2)}\n`,
      );
    }
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  killAll();
  process.exitCode = 1;
});

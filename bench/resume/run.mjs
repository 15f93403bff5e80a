#!/usr/bin/env node
/**
 * bench/resume (issue 3): what the spool costs and what it buys.
 *  1. Resume latency: a stream is run to its end, then `GET /v1/streams/{id}` with `Last-Event-ID: 1`
 *     is timed from the request to its first replayed event; p50/p99, memory spool vs Redis spool.
 *  2. The spool's cost on the relay path, as CPU: the same load (100 concurrent streams at 30
 *     tokens/s) through the gateway and through a bare relay on the same stack (node:http + undici's
 *     dispatch + the gateway's SSE decoder, numbering events, storing nothing: bench/lib/bare-relay.mjs). CPU is
 *     utime + stime from /proc/<pid>/stat before and after, per completed stream. For the Redis
 *     spool, redis-server's CPU is shown apart and added.
 * Runs alternate between targets; each figure is the median of `--runs` runs.
 *
 * Usage: node bench/resume/run.mjs [--runs 3] [--resumes 200] [--duration-ms 5000] [--baseline <spool.js of another build>]
 * With `--baseline`, that build of the gateway runs in the same rounds with both spools (before/after).
 * Targets: resume p50 < 5 ms (memory), < 15 ms (Redis); the spool adds < 10% CPU.
 */
import { parseArgs } from 'node:util';
import { startLoadgen } from '../lib/loadgen-client.mjs';
import { cpuTimeMs, installExitHandlers, killAll } from '../lib/processes.mjs';
import { formatMs, formatRatio, markdownTable, median } from '../lib/stats.mjs';
import { assertBuilt, startBareRelay, startSim, startSpool } from '../lib/targets.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    resumes: { type: 'string', default: '200' },
    'duration-ms': { type: 'string', default: '5000' },
    baseline: { type: 'string' },
  },
});
const runs = Math.min(10, Math.max(1, Number(values.runs)));
const resumes = Math.min(5000, Math.max(10, Number(values.resumes)));
const durationMs = Math.min(60_000, Math.max(1000, Number(values['duration-ms'])));
const CONCURRENCY = 100;

installExitHandlers();
assertBuilt();

/** Runs the paced load against a target and returns CPU ms per completed stream for its processes. */
async function cpuPerStream(loadgen, target) {
  await loadgen.run('streams', { url: target.url, model: 'sim-fast', concurrency: 10, durationMs: 500 });
  const pids = target.pids();
  const before = pids.map(cpuTimeMs);
  const result = await loadgen.run('streams', {
    url: target.url,
    headers: target.headers,
    concurrency: CONCURRENCY,
    rampMs: 500,
    durationMs,
  });
  const after = pids.map(cpuTimeMs);
  const completed = result.requests - result.failed;
  const perStream = pids.map((_, index) => (after[index] - before[index]) / Math.max(1, completed));
  return { completed, failed: result.failed, perStream, gapP99: result.gap.p99 };
}

async function main() {
  const sim = await startSim();
  const loadgen = await startLoadgen();
  /** Spool targets: [key, store, cli]; the baseline build's keys are prefixed `baseline `. */
  const spools = [
    ['memory', 'memory', undefined],
    ['redis', 'redis', undefined],
  ];
  if (values.baseline) {
    spools.push(['baseline memory', 'memory', values.baseline], ['baseline redis', 'redis', values.baseline]);
  }
  const resume = Object.fromEntries(spools.map(([key]) => [key, []]));
  const cpu = { bare: [], ...Object.fromEntries(spools.map(([key]) => [key, []])) };
  try {
    for (let run = 0; run < runs; run++) {
      for (const [key, store, cli] of spools) {
        const target = await startSpool(sim, cli ? { store, cli } : { store });
        try {
          const result = await loadgen.run('resume', { baseUrl: target.resumeBaseUrl, count: resumes });
          if (result.failed) process.stderr.write(`resume ${key}: ${JSON.stringify(result.errors)}\n`);
          resume[key].push(result.firstByte);
          cpu[key].push(await cpuPerStream(loadgen, target));
        } finally {
          await target.stop();
        }
      }
      const bare = await startBareRelay(sim);
      try {
        cpu.bare.push(await cpuPerStream(loadgen, bare));
      } finally {
        await bare.stop();
      }
      process.stderr.write(`run ${run + 1}/${runs} done\n`);
    }
  } finally {
    await loadgen.stop();
    await sim.stop();
  }

  const resumeRows = spools.map(([key]) => [
    `${key} spool`,
    formatMs(median(resume[key].map((summary) => summary.p50))),
    formatMs(median(resume[key].map((summary) => summary.p99))),
    String(resume[key].reduce((sum, summary) => sum + summary.count, 0)),
  ]);
  const perStream = (key, index) => median(cpu[key].map((entry) => entry.perStream[index] ?? 0));
  const bareMs = perStream('bare', 0);
  const memoryMs = perStream('memory', 0);
  const redisGatewayMs = perStream('redis', 0);
  const redisServerMs = perStream('redis', 1);
  const cpuRows = [['bare relay (no spool)', formatMs(bareMs), '–', formatMs(bareMs), '1.00×']];
  for (const [key, store] of spools) {
    const gatewayMs = perStream(key, 0);
    const serverMs = store === 'redis' ? perStream(key, 1) : 0;
    cpuRows.push([
      `gateway${key.startsWith('baseline') ? ' (baseline)' : ''}, ${store === 'redis' ? 'Redis' : 'memory'} spool`,
      formatMs(gatewayMs),
      store === 'redis' ? formatMs(serverMs) : '–',
      formatMs(gatewayMs + serverMs),
      formatRatio((gatewayMs + serverMs) / bareMs),
    ]);
  }
  const completed = (key) => cpu[key].reduce((sum, entry) => sum + entry.completed, 0);
  process.stdout.write(
    `\n### bench/resume: time to first replayed event (ms), median of ${runs} runs × ${resumes} resumes\n\n` +
      markdownTable(['store', 'p50', 'p99', 'resumes'], resumeRows) +
      `\n\n### bench/resume: relay CPU per stream (ms), ${CONCURRENCY} concurrent streams at 30 tokens/s, median of ${runs} runs\n\n` +
      markdownTable(['target', 'relay process', 'redis-server', 'total', 'vs bare'], cpuRows) +
      `\n\nStreams completed: ${Object.keys(cpu)
        .map((key) => `${key} ${completed(key)}`)
        .join(', ')}.\n`,
  );
  const memoryP50 = median(resume.memory.map((summary) => summary.p50));
  const redisP50 = median(resume.redis.map((summary) => summary.p50));
  const checks = [
    ['resume p50, memory < 5 ms', `${formatMs(memoryP50)} ms`, memoryP50 < 5],
    ['resume p50, Redis < 15 ms', `${formatMs(redisP50)} ms`, redisP50 < 15],
    [
      'spool adds < 10% CPU (memory)',
      `+${((memoryMs / bareMs - 1) * 100).toFixed(0)}%`,
      memoryMs / bareMs < 1.1,
    ],
    [
      'spool adds < 10% CPU (Redis, gateway + redis-server)',
      `+${(((redisGatewayMs + redisServerMs) / bareMs - 1) * 100).toFixed(0)}%`,
      (redisGatewayMs + redisServerMs) / bareMs < 1.1,
    ],
  ];
  process.stdout.write(
    `\nTargets:\n${checks.map(([label, value, met]) => `- ${label}: ${value} → ${met ? 'met' : 'MISSED'}`).join('\n')}\n`,
  );
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  killAll();
  process.exitCode = 1;
});

#!/usr/bin/env node
/**
 * bench/resume, long-poll (issue 19): the long-poll read against the SSE read, on one gateway
 * (memory spool) at a time.
 *  1. Reading rate: a finished stream read to its end, again and again (20 at a time), by SSE
 *     (`GET /v1/streams/{id}`) and by long-poll (`?after=n&wait=s` until `ended`): events/s and
 *     gateway CPU per 1,000 events.
 *  2. Waiting readers: `--waiting` readers (1,000) wait on a stream the sim holds still, by SSE or
 *     by long-poll (`wait=25`), each on a fresh gateway: RSS per waiting reader and gateway CPU per
 *     waiting reader over a `--window-ms` window (µs of CPU per reader-second). SSE readers get a
 *     heartbeat every 15 s; a long-poll reader is one parked request, a timer and a registered reader.
 * Usage: node bench/resume/long-poll.mjs [--reads 300] [--waiting 1000] [--window-ms 5000]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { cpuTimeMs, installExitHandlers, killAll, rssBytes } from '../lib/processes.mjs';
import { markdownTable } from '../lib/stats.mjs';
import { assertBuilt, startSim, startSpool } from '../lib/targets.mjs';

const { values } = parseArgs({
  options: {
    reads: { type: 'string', default: '300' },
    waiting: { type: 'string', default: '1000' },
    'window-ms': { type: 'string', default: '5000' },
  },
});
const reads = Math.min(5000, Math.max(10, Number(values.reads)));
const waiting = Math.min(5000, Math.max(10, Number(values.waiting)));
const windowMs = Math.min(60_000, Math.max(1000, Number(values['window-ms'])));
const CONCURRENCY = 20;
const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

installExitHandlers();
assertBuilt();

/** One request; resolves with status and body (or at headers, with `headersOnly`). */
function request(url, { method = 'GET', headers = {}, body, headersOnly = false } = {}) {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(url, { method, headers, agent }, (response) => {
      if (headersOnly) {
        resolve({ status: response.statusCode, response });
        return;
      }
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        text += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode, body: text }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

async function startStream(base, fault) {
  const answer = await request(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      prefer: 'respond-async',
      ...(fault ? { 'x-spool-fault': fault } : {}),
    },
    body: JSON.stringify({
      model: fault ? 'sim' : 'sim-fast',
      stream: true,
      max_tokens: 400,
      messages: [{ role: 'user', content: 'A long answer to read again and again, please.' }],
    }),
  });
  if (answer.status !== 202) throw new Error(`POST answered ${answer.status}: ${answer.body}`);
  return JSON.parse(answer.body).id;
}

async function longPollToEnd(base, streamId, after = 0) {
  let events = 0;
  for (;;) {
    const read = await request(`${base}/v1/streams/${streamId}?after=${after}&wait=20`);
    const answer = JSON.parse(read.body);
    events += answer.events.length;
    after = answer.next_after;
    if (answer.ended) return { events, after };
  }
}

async function sseToEnd(base, streamId) {
  const read = await request(`${base}/v1/streams/${streamId}`);
  return read.body.split('\n\n').filter((block) => block.includes('data:')).length;
}

async function inParallel(count, concurrency, task) {
  let next = 0;
  let total = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        total += await task();
      }
    }),
  );
  return total;
}

async function readingRate(sim) {
  const spool = await startSpool(sim);
  try {
    const base = spool.resumeBaseUrl;
    const streamId = await startStream(base);
    const { events } = await longPollToEnd(base, streamId);
    const rows = [];
    for (const [mode, readOnce] of [
      ['SSE read', () => sseToEnd(base, streamId)],
      ['long-poll read', async () => (await longPollToEnd(base, streamId)).events],
    ]) {
      await inParallel(20, CONCURRENCY, readOnce);
      const cpuBefore = cpuTimeMs(spool.gatewayPid);
      const started = performance.now();
      const total = await inParallel(reads, CONCURRENCY, readOnce);
      const seconds = (performance.now() - started) / 1000;
      const cpuMs = cpuTimeMs(spool.gatewayPid) - cpuBefore;
      rows.push([
        mode,
        String(events),
        Math.round(total / seconds).toLocaleString('en'),
        ((cpuMs / total) * 1000).toFixed(1),
      ]);
    }
    return rows;
  } finally {
    await spool.stop();
  }
}

async function metric(base, name) {
  const { body } = await request(`${base}/metrics`);
  const line = body.split('\n').find((entry) => entry.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

async function waitingReaders(sim, mode) {
  const spool = await startSpool(sim, { config: { server: { longPollMaxWaitMs: 60_000 } } });
  const held = [];
  try {
    const base = spool.resumeBaseUrl;
    // The sim sends two events then holds the stream still for ten minutes.
    const streamId = await startStream(base, 'stall-after=2;stall-ms=600000');
    const first = await request(`${base}/v1/streams/${streamId}?after=0&wait=5`);
    const after = JSON.parse(first.body).next_after;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const rssBefore = rssBytes(spool.gatewayPid);
    for (let index = 0; index < waiting; index++) {
      const url =
        mode === 'sse'
          ? `${base}/v1/streams/${streamId}?last_event_id=${after}`
          : `${base}/v1/streams/${streamId}?after=${after}&wait=50`;
      held.push(
        new Promise((resolve, reject) => {
          const outgoing = http.request(url, { agent: false }, (response) => {
            response.on('data', () => {});
            response.on('error', () => {});
            resolve(outgoing);
          });
          outgoing.on('error', (error) => (mode === 'sse' ? reject(error) : resolve(outgoing)));
          if (mode === 'long-poll') outgoing.on('socket', () => resolve(outgoing));
          outgoing.end();
        }),
      );
    }
    const requests = await Promise.all(held);
    // Every reader is registered with the gateway (spool_streams_open counts both kinds).
    for (let turn = 0; (await metric(base, 'spool_streams_open')) < waiting; turn++) {
      if (turn > 300)
        throw new Error(`only ${await metric(base, 'spool_streams_open')} of ${waiting} readers waiting`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rssAfter = rssBytes(spool.gatewayPid);
    const cpuBefore = cpuTimeMs(spool.gatewayPid);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const cpuMs = cpuTimeMs(spool.gatewayPid) - cpuBefore;
    for (const outgoing of requests) outgoing.destroy();
    return [
      mode === 'sse' ? 'SSE read' : 'long-poll read (wait=50)',
      String(waiting),
      ((rssAfter - rssBefore) / waiting / 1024).toFixed(1),
      ((cpuMs * 1000) / waiting / (windowMs / 1000)).toFixed(2),
    ];
  } finally {
    await spool.stop();
  }
}

async function main() {
  const sim = await startSim();
  try {
    const rateRows = await readingRate(sim);
    const waitRows = [await waitingReaders(sim, 'sse'), await waitingReaders(sim, 'long-poll')];
    process.stdout.write(
      `\n### bench/resume: reading a finished stream to its end, ${reads} reads, ${CONCURRENCY} at a time (memory spool)\n\n` +
        markdownTable(
          ['read', 'events per stream', 'events/s', 'gateway CPU ms per 1,000 events'],
          rateRows,
        ) +
        `\n\n### bench/resume: readers waiting on a stream held still, ${windowMs} ms window\n\n` +
        markdownTable(
          ['read', 'waiting', 'gateway RSS per reader (KiB)', 'gateway CPU per reader (µs/s)'],
          waitRows,
        ) +
        '\n',
    );
  } finally {
    await sim.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  killAll();
  process.exitCode = 1;
});

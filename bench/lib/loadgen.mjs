/**
 * The load generator, run in its own process (forked by `loadgen-client.mjs`) so that its CPU is
 * never the target's. It speaks plain node:http (no SSE library) and timestamps every chunk that
 * carries a `data:` event: time to first token, total time, and the gaps between tokens.
 *
 * Messages in: `{ id, kind, ...options }` with kind `streams`, `interleaved`, `idle`, `release` or `resume`.
 * Messages out: `{ id, result }` or `{ id, error }`.
 */
import http from 'node:http';
import { summarize } from './stats.mjs';

/** A request body for the sim: a different prompt per request gives different (deterministic) text. */
function chatBody(model, sequence, extra = {}) {
  return JSON.stringify({
    model,
    stream: true,
    messages: [{ role: 'user', content: `Benchmark request number ${sequence}, tell me something.` }],
    ...extra,
  });
}

/** The same prompt as an Anthropic Messages body, for `POST /v1/messages` (`max_tokens` is required there). */
function messagesBody(model, sequence, extra = {}) {
  return JSON.stringify({
    model,
    stream: true,
    max_tokens: 4096,
    messages: [{ role: 'user', content: `Benchmark request number ${sequence}, tell me something.` }],
    ...extra,
  });
}

/** The same prompt as an OpenAI Responses body, for `POST /v1/responses`. */
function responsesBody(model, sequence, extra = {}) {
  return JSON.stringify({
    model,
    stream: true,
    input: `Benchmark request number ${sequence}, tell me something.`,
    ...extra,
  });
}

/** The request body of each API the load generator speaks. */
const BODIES = { chat: chatBody, messages: messagesBody, responses: responsesBody };

let sequence = 0;

/**
 * The event that carries the first token: non-empty `content` (the role-only opening chunk is not a
 * token, and a gateway may hold it until the first token), or a Messages `text_delta` (non-empty
 * `text`: a text block starts with `"text":""`), or a Responses `response.output_text.delta`
 * (non-empty string `delta`), or the end of a stream without any.
 */
const FIRST_TOKEN =
  /"content":"[^"]|"text":"[^"]|"delta":"[^"]|data: \[DONE\]|"type":"message_stop"|"type":"response\.completed"/;

/**
 * One streamed POST. Resolves with its timings; never rejects (failures are counted, not thrown).
 * @param {{ url: URL, headers: Record<string, string>, body: string, agent: http.Agent, timeoutMs: number, gaps?: number[] }} request
 */
function streamOnce({ url, headers, body, agent, timeoutMs, gaps, method = 'POST' }) {
  return new Promise((resolve) => {
    const startedAt = performance.now();
    let firstDataAt = 0;
    let firstTokenAt = 0;
    let lastDataAt = 0;
    let events = 0;
    let tail = '';
    let settled = false;
    const finish = (ok, reason) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const endedAt = performance.now();
      resolve({
        ok: ok && events > 0,
        reason: ok && events === 0 ? 'no data events' : reason,
        firstEventMs: firstDataAt ? firstDataAt - startedAt : Number.NaN,
        ttftMs: firstTokenAt ? firstTokenAt - startedAt : Number.NaN,
        totalMs: endedAt - startedAt,
        events,
        streamId: streamIdHeader,
      });
    };
    let streamIdHeader;
    const request = http.request(url, {
      method,
      agent,
      headers: { 'content-type': 'application/json', ...headers },
    });
    const timer = setTimeout(() => {
      request.destroy();
      finish(false, `timeout after ${timeoutMs} ms`);
    }, timeoutMs);
    request.on('error', (error) => finish(false, error.code ?? error.message));
    request.on('response', (response) => {
      streamIdHeader = response.headers['x-stream-id'];
      if (response.statusCode !== 200) {
        response.resume();
        response.on('end', () => finish(false, `HTTP ${response.statusCode}`));
        return;
      }
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        const now = performance.now();
        const text = tail + chunk;
        let start = 0;
        let inThisChunk = 0;
        for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n', start)) {
          const block = text.slice(start, end);
          start = end + 2;
          // Comments (`: ping`) and `retry:` carry no token; `data:` starts a line in a token event.
          if (!(block.startsWith('data:') || block.includes('\ndata:'))) continue;
          events++;
          if (!firstTokenAt && FIRST_TOKEN.test(block)) firstTokenAt = now;
          if (!firstDataAt) firstDataAt = now;
          else if (gaps) gaps.push(inThisChunk === 0 ? now - lastDataAt : 0);
          inThisChunk++;
          lastDataAt = now;
        }
        tail = text.slice(start);
      });
      response.on('end', () => finish(true));
      response.on('error', (error) => finish(false, error.code ?? error.message));
    });
    request.end(body);
  });
}

/**
 * Closed-loop load: `concurrency` workers, each sending streamed requests back to back until the
 * measurement window closes. Workers start spread over `rampMs`; requests started before `warmupMs`
 * are not measured. Bounded by `durationMs` and by `maxRequestsPerWorker`.
 */
async function runStreams(options) {
  const {
    url,
    headers = {},
    model = 'sim',
    bodyExtra = {},
    api = 'chat',
    concurrency,
    rampMs = 0,
    warmupMs = 0,
    durationMs,
    maxRequestsPerWorker = 100_000,
    timeoutMs = 30_000,
  } = options;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const target = new URL(url);
  const ttfts = [];
  const totals = [];
  const gaps = [];
  const errors = {};
  let failed = 0;
  let measured = 0;
  const begin = performance.now();
  const stopAt = begin + warmupMs + durationMs;
  const worker = async (index) => {
    if (rampMs > 0) await new Promise((resolve) => setTimeout(resolve, (rampMs * index) / concurrency));
    for (let count = 0; count < maxRequestsPerWorker && performance.now() < stopAt; count++) {
      const measuring = performance.now() - begin >= warmupMs;
      const result = await streamOnce({
        url: target,
        headers,
        body: BODIES[api](model, sequence++, bodyExtra),
        agent,
        timeoutMs,
        gaps: measuring ? gaps : undefined,
      });
      if (!measuring) continue;
      measured++;
      if (!result.ok) {
        failed++;
        errors[result.reason] = (errors[result.reason] ?? 0) + 1;
        continue;
      }
      ttfts.push(result.ttftMs);
      totals.push(result.totalMs);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, index) => worker(index)));
  agent.destroy();
  return {
    requests: measured,
    failed,
    errors,
    ttft: summarize(ttfts),
    total: summarize(totals),
    gap: summarize(gaps),
    elapsedMs: performance.now() - begin,
  };
}

/**
 * One stream at a time over several paths in turn: each round sends one request to each of
 * `paths` (`{ name, url, api }`), starting with the next path each round, so that whatever drifts
 * over a run (the machine's load, a gateway's heap growing with every stream it retains) weighs on
 * every path alike. Rounds started before `warmupMs` are not measured. Per path: requests, failures
 * and time to first token.
 */
async function runInterleaved({
  paths,
  headers = {},
  model = 'sim',
  warmupMs = 0,
  durationMs,
  maxRounds = 100_000,
  timeoutMs = 30_000,
}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const measures = paths.map(() => ({ requests: 0, failed: 0, errors: {}, ttfts: [] }));
  const begin = performance.now();
  const stopAt = begin + warmupMs + durationMs;
  let rounds = 0;
  for (let round = 0; performance.now() < stopAt && rounds < maxRounds; round++) {
    const measuring = performance.now() - begin >= warmupMs;
    if (measuring) rounds++;
    for (let turn = 0; turn < paths.length; turn++) {
      const index = (round + turn) % paths.length;
      const path = paths[index];
      const result = await streamOnce({
        url: new URL(path.url),
        headers,
        body: BODIES[path.api](model, sequence++),
        agent,
        timeoutMs,
      });
      if (!measuring) continue;
      const measure = measures[index];
      measure.requests++;
      if (!result.ok) {
        measure.failed++;
        measure.errors[result.reason] = (measure.errors[result.reason] ?? 0) + 1;
        continue;
      }
      measure.ttfts.push(result.ttftMs);
    }
  }
  agent.destroy();
  return Object.fromEntries(
    paths.map((path, index) => {
      const { ttfts, ...counts } = measures[index];
      return [path.name, { ...counts, ttft: summarize(ttfts) }];
    }),
  );
}

/** Open idle streams, held until a `release` message. */
let held = [];

/**
 * Opens `count` streams (at most `openConcurrency` connecting at once) and waits until each has
 * received its first event; the upstream is asked to stall after that, so they stay open and idle.
 */
async function runIdle({
  url,
  headers = {},
  model = 'sim',
  count,
  openConcurrency = 200,
  timeoutMs = 60_000,
}) {
  const target = new URL(url);
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  let opened = 0;
  let failed = 0;
  const errors = {};
  const deadline = performance.now() + timeoutMs;
  const openOne = (index) =>
    new Promise((resolve) => {
      const request = http.request(target, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', ...headers },
      });
      const fail = (reason) => {
        failed++;
        errors[reason] = (errors[reason] ?? 0) + 1;
        request.destroy();
        resolve();
      };
      const timer = setTimeout(() => fail('timeout'), Math.max(1000, deadline - performance.now()));
      request.on('error', (error) => {
        clearTimeout(timer);
        fail(error.code ?? error.message);
      });
      request.on('response', (response) => {
        if (response.statusCode !== 200) {
          clearTimeout(timer);
          return fail(`HTTP ${response.statusCode}`);
        }
        let seen = '';
        const onData = (chunk) => {
          seen += chunk;
          if (!seen.includes('data:')) return;
          response.off('data', onData);
          // Keep reading (and dropping) so heartbeats never back up.
          response.on('data', () => {});
          clearTimeout(timer);
          opened++;
          held.push(request);
          resolve();
        };
        response.setEncoding('utf8');
        response.on('data', onData);
      });
      request.end(chatBody(model, index));
    });
  let next = 0;
  const opener = async () => {
    while (next < count && performance.now() < deadline) await openOne(next++);
  };
  await Promise.all(Array.from({ length: Math.min(openConcurrency, count) }, opener));
  return { requested: count, opened, failed, errors };
}

function releaseIdle() {
  const released = held.length;
  for (const request of held) request.destroy();
  held = [];
  return { released };
}

/**
 * Resume latency: for each of `count` streams, run the POST to its end (`sim-fast`), then time a
 * `GET /v1/streams/{id}` with `Last-Event-ID: 1` from the request to the first replayed event.
 */
async function runResume({ baseUrl, headers = {}, count, timeoutMs = 10_000 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const latencies = [];
  const errors = {};
  let failed = 0;
  for (let index = 0; index < count; index++) {
    const posted = await streamOnce({
      url: new URL('/v1/chat/completions', baseUrl),
      headers,
      body: chatBody('sim-fast', sequence++),
      agent,
      timeoutMs,
    });
    if (!posted.ok || !posted.streamId) {
      failed++;
      errors[posted.reason ?? 'no X-Stream-Id'] = (errors[posted.reason ?? 'no X-Stream-Id'] ?? 0) + 1;
      continue;
    }
    const resumed = await streamOnce({
      url: new URL(`/v1/streams/${posted.streamId}`, baseUrl),
      method: 'GET',
      headers: { ...headers, 'last-event-id': '1' },
      agent,
      timeoutMs,
    });
    if (!resumed.ok || resumed.events !== posted.events - 1) {
      failed++;
      const reason = resumed.ok ? `replayed ${resumed.events} of ${posted.events - 1}` : resumed.reason;
      errors[reason] = (errors[reason] ?? 0) + 1;
      continue;
    }
    latencies.push(resumed.firstEventMs);
  }
  agent.destroy();
  return { requests: count, failed, errors, firstByte: summarize(latencies) };
}

const handlers = {
  streams: runStreams,
  interleaved: runInterleaved,
  idle: runIdle,
  release: releaseIdle,
  resume: runResume,
};

process.on('message', async (message) => {
  try {
    const handler = handlers[message.kind];
    if (!handler) throw new Error(`unknown loadgen job "${message.kind}"`);
    process.send({ id: message.id, result: await handler(message) });
  } catch (error) {
    process.send({ id: message.id, error: error.stack ?? String(error) });
  }
});
process.on('disconnect', () => process.exit(0));

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPOOL_CLI } from './helpers.js';
import { openRaw, type RawConnection } from './raw-socket.js';

/**
 * Random request lines, headers, paths and bodies thrown at a gateway in its own process over raw
 * TCP (so malformed request lines really go out): after every case the process must live, answer
 * `/health`, never have answered 500, and never have logged at error level. Every surface is in it:
 * chat, `/v1/responses` (create, retrieve and resume from odd `starting_after`, cancel, input items),
 * `/v1/messages` and `count_tokens`, and `/v1/streams/{id}?after=` on real, finished streams.
 */

const FUZZ_TIME_MS = 15_000;
/**
 * A case that gets neither an answer nor a closed connection within this is suspected of hanging;
 * it is called a hang only once the gateway has answered later requests too (see `exchange`).
 */
const ANSWER_WITHIN_MS = 10_000;
/** Ids of a finished Responses stream and of a finished chat stream, made before fuzzing. */
let responseId = 'resp_aaaaaaaaaaaaaaaaaaaaaa';
let streamId = 'str_aaaaaaaaaaaaaaaaaaaaaa';

let child: ChildProcess;
let port: number;
let directory: string;
const errorLines: string[] = [];
let stderr = '';

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'spool-fuzz-'));
  const configPath = join(directory, 'spool.json');
  await writeFile(
    configPath,
    JSON.stringify({
      server: {
        logLevel: 'info',
        bodyTimeoutMs: 500,
        headersTimeoutMs: 1000,
        bodyLimitBytes: 256 * 1024,
        bodyBudgetBytes: 4 * 1024 * 1024,
        shutdownGraceMs: 500,
      },
      providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 } },
      models: [{ match: '*', provider: 'sim' }],
      usage: { store: 'memory' },
    }),
  );
  child = spawn(process.execPath, [SPOOL_CLI, 'serve', '--config', configPath, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  let pending = '';
  const listening = new Promise<number>((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`spool serve exited (${code}) before listening: ${stderr}`)),
    );
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const port = /listening on http:\/\/[^:]+:(\d+)/.exec(line)?.[1];
        if (port) resolve(Number(port));
        if (/"level":(5\d|60)/.test(line)) errorLines.push(line);
      }
    });
  });
  port = await listening;
  // Real ids, so that resumes with odd positions reach a stream's replay, not only the 404.
  const created = await (
    await openRaw(port, post('/v1/responses', JSON.stringify({ model: 'sim', input: 'hi', stream: true })))
  ).answer.catch(() => undefined);
  // A Response's id is its stream's id with the `resp_` prefix (surfaces/responses/response-ids.ts).
  const madeResponse = /\r\nx-stream-id: *str_([A-Za-z0-9_-]+)/i.exec(created?.head ?? '')?.[1];
  if (!madeResponse) throw new Error(`no Responses stream to fuzz resumes of: ${created?.head}`);
  responseId = `resp_${madeResponse}`;
  const chat = await (
    await openRaw(
      port,
      post(
        '/v1/chat/completions',
        JSON.stringify({ model: 'sim', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      ),
    )
  ).answer.catch(() => undefined);
  const madeStream = /\r\nx-stream-id: *(str_[A-Za-z0-9_-]+)/i.exec(chat?.head ?? '')?.[1];
  if (!madeStream) throw new Error(`no chat stream to fuzz resumes of: ${chat?.head}`);
  streamId = madeStream;
});

/** A well-formed POST of a JSON body, closing the connection after it. */
function post(path: string, json: string): Buffer {
  const bytes = Buffer.from(json);
  return Buffer.concat([
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${bytes.length}\r\n\r\n`,
    ),
    bytes,
  ]);
}

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  await rm(directory, { recursive: true, force: true });
});

const PATHS = [
  '/',
  '//',
  '//a:b',
  '///',
  '//a:b/v1/models',
  '/%',
  '/%E0%A4%A',
  '/%ZZ',
  '/%00',
  '/v1/streams/%ZZ',
  '/v1/streams/%E0%A4%A',
  '/v1/streams/',
  '/v1/streams/str_aaaaaaaaaaaaaaaaaaaaaa',
  '/v1/streams/str_%F0%9F%92%A5aaaaaaaaaaaaaaaa',
  '/v1/chat/completions',
  '/v1/chat/completions?x=%',
  '/v1/chat/completions/',
  '/v1/models',
  '/v1/models/sim',
  '/v1/models/%ZZ',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/responses/',
  '/v1/responses/resp_aaaaaaaaaaaaaaaaaaaaaa',
  '/v1/responses/resp_%ZZ',
  '/v1/responses/resp_aaaaaaaaaaaaaaaaaaaaaa/cancel',
  '/v1/responses/%E0%A4%A/cancel',
  '/v1/responses/resp_aaaaaaaaaaaaaaaaaaaaaa/input_items?limit=0&order=x&after=%',
  '/v1/messages',
  '/v1/messages/',
  '/v1/messages/count_tokens',
  '/v1/messages/count_tokens?x=%',
  '/v1/usage?from=%&to=x',
  '/v1/usage?from=2026-13-45',
  '/health',
  '/health?%',
  '/ready',
  '/metrics',
  '*',
  'http://evil.example/v1/models',
  'http://[::1',
  '/..%2f..%2fetc/passwd',
  '/../../etc/passwd',
  '/index.html',
  '/é💥',
];

const SEGMENTS = [
  'v1',
  'streams',
  'chat',
  'completions',
  '%',
  '%2F',
  '',
  ':',
  'a:b',
  '..',
  '%E0%A4%A',
  '?',
  '#',
  '%00',
  'é',
];

const path = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...PATHS) },
  {
    weight: 2,
    arbitrary: fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 6 }).map((parts) => `/${parts.join('/')}`),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }).map((text) => `/${text}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 40_000 }).map((size) => `/${'a'.repeat(size)}`) },
);

/** Resume positions: numbers out of range, not numbers, encoded and raw. */
const position = fc.oneof(
  fc.constantFrom(
    '-1',
    '0',
    '1',
    '2',
    '1.5',
    '1e3',
    '0x10',
    '99999999999999999999',
    'NaN',
    '',
    '%',
    '%00',
    '+1',
  ),
  fc.integer({ min: -5, max: 5000 }).map(String),
  fc.string({ unit: 'grapheme-ascii', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map(encodeURIComponent),
);

/** Resumes and reads of a real (finished) Responses or chat stream, or a made-up one, from odd positions. */
const resumePath = fc
  .record({
    real: fc.boolean(),
    surface: fc.constantFrom('responses', 'streams', 'cancel', 'input_items'),
    stream: fc.constantFrom('true', 'false', '1', ''),
    at: position,
    parameter: fc.constantFrom('starting_after', 'after', 'limit'),
  })
  .map(({ real, surface, stream, at, parameter }) => {
    const response = real ? responseId : 'resp_bbbbbbbbbbbbbbbbbbbbbb';
    if (surface === 'streams')
      return `/v1/streams/${real ? streamId : 'str_bbbbbbbbbbbbbbbbbbbbbb'}?after=${at}`;
    if (surface === 'cancel') return `/v1/responses/${response}/cancel?${parameter}=${at}`;
    if (surface === 'input_items') return `/v1/responses/${response}/input_items?${parameter}=${at}`;
    return `/v1/responses/${response}?stream=${stream}&${parameter}=${at}`;
  });

const method = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom('GET', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'TRACE'),
  },
  { weight: 1, arbitrary: fc.constantFrom('G ET', 'get', 'CONNECT', 'PRI', 'é', '') },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 12 }) },
);

const version = fc.oneof(
  { weight: 8, arbitrary: fc.constant('HTTP/1.1') },
  { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 x', '', 'http/1.1') },
);

const anyText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
);
/** Headers the gateway reads, with odd values. */
const appHeader = fc.oneof(
  fc.tuple(
    fc.constant('Host'),
    fc.constantFrom('localhost', '127.0.0.1:1', '[::1]', 'evil.example', '', '[::1', 'a b'),
  ),
  fc.tuple(
    fc.constant('Authorization'),
    fc.oneof(fc.constantFrom('Bearer sk-x', 'Basic abc', 'Bearer', 'Bearer  '), anyText),
  ),
  fc.tuple(fc.constant('x-api-key'), fc.oneof(fc.constantFrom('sk-x', ' '), anyText)),
  fc.tuple(
    fc.constant('Origin'),
    fc.oneof(fc.constantFrom('http://evil.example', 'null', 'http://127.0.0.1'), anyText),
  ),
  fc.tuple(
    fc.constant('Last-Event-ID'),
    fc.oneof(fc.constantFrom('0', '-1', 'abc', '99999999999999999999999'), anyText),
  ),
  fc.tuple(fc.constant('Idempotency-Key'), anyText),
  fc.tuple(
    fc.constantFrom('anthropic-version', 'anthropic-beta'),
    fc.oneof(fc.constantFrom('2023-06-01', 'x', ''), anyText),
  ),
  fc.tuple(fc.constant('X-Request-Id'), anyText),
  fc.tuple(fc.constant('Content-Type'), fc.oneof(fc.constantFrom('application/json', 'text/plain'), anyText)),
);

/** Headers that change how the request is framed, or are not headers at all. */
const framingHeader = fc.oneof(
  fc.tuple(
    fc.constant('Transfer-Encoding'),
    fc.constantFrom('chunked', 'gzip', 'chunked, chunked', 'identity'),
  ),
  fc.tuple(fc.constant('Content-Length'), fc.constantFrom('-1', 'abc', '1, 2', '99999999999999999999')),
  fc.tuple(fc.constant('Connection'), fc.constantFrom('keep-alive', 'close', 'upgrade')),
  fc.tuple(fc.constant('Expect'), fc.constantFrom('100-continue', 'nonsense')),
  fc.tuple(fc.string({ unit: 'binary-ascii', maxLength: 20 }), anyText),
);

const header = fc.oneof({ weight: 6, arbitrary: appHeader }, { weight: 1, arbitrary: framingHeader });

const deepJson = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('bare', 'chat', 'responses', 'messages'))
  .map(([depth, shape]) => {
    const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    if (shape === 'chat') return `{"model":"sim","messages":[{"role":"user","content":"x"}],"x":${nested}}`;
    if (shape === 'responses') return `{"model":"sim","input":${nested}}`;
    if (shape === 'messages')
      return `{"model":"sim","max_tokens":5,"messages":[{"role":"user","content":${nested}}]}`;
    return nested;
  });
const chatJson = fc
  .record({
    model: fc.oneof(fc.constant('sim'), anyText),
    messages: fc.oneof(
      fc.constant([{ role: 'user', content: 'hi' }]),
      fc.array(fc.record({ role: fc.constantFrom('user', 'system', 'x'), content: fc.jsonValue() }), {
        maxLength: 3,
      }),
    ),
    stream: fc.oneof(fc.boolean(), fc.jsonValue()),
    max_tokens: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.jsonValue()),
  })
  .map((body) => JSON.stringify(body));

const validChat = fc
  .record({ content: anyText, stream: fc.boolean(), max_tokens: fc.integer({ min: 1, max: 20 }) })
  .map(({ content, ...rest }) =>
    JSON.stringify({ model: 'sim', messages: [{ role: 'user', content }], ...rest }),
  );

/** Responses requests: sometimes valid, with fields of every odd type (none required). */
const responsesJson = fc
  .record(
    {
      model: fc.oneof(fc.constant('sim'), anyText),
      input: fc.oneof(
        anyText,
        fc.jsonValue(),
        fc.array(
          fc.oneof(
            fc.record({
              role: fc.constantFrom('user', 'assistant', 'system', 'developer', 'x'),
              content: fc.oneof(
                anyText,
                fc.array(
                  fc.record({
                    type: fc.constantFrom('input_text', 'input_image', 'output_text', 'x'),
                    text: fc.oneof(anyText, fc.jsonValue()),
                  }),
                  { maxLength: 3 },
                ),
              ),
            }),
            fc.record({
              type: fc.constantFrom('function_call', 'function_call_output', 'message', 'x'),
              call_id: anyText,
              output: fc.jsonValue(),
            }),
          ),
          { maxLength: 3 },
        ),
      ),
      stream: fc.oneof(fc.boolean(), fc.jsonValue()),
      background: fc.oneof(fc.boolean(), fc.jsonValue()),
      store: fc.boolean(),
      previous_response_id: fc.oneof(fc.constant('resp_aaaaaaaaaaaaaaaaaaaaaa'), anyText, fc.jsonValue()),
      max_output_tokens: fc.oneof(fc.integer({ min: -1, max: 20 }), fc.jsonValue()),
      tools: fc.jsonValue(),
      text: fc.jsonValue(),
      instructions: fc.oneof(anyText, fc.jsonValue()),
    },
    { requiredKeys: [] },
  )
  .map((body) => JSON.stringify(body));

/** Messages requests: sometimes valid, with fields of every odd type (none required). */
const messagesJson = fc
  .record(
    {
      model: fc.oneof(fc.constant('sim'), anyText),
      max_tokens: fc.oneof(fc.integer({ min: -1, max: 20 }), fc.jsonValue()),
      messages: fc.oneof(
        fc.constant([{ role: 'user', content: 'hi' }]),
        fc.jsonValue(),
        fc.array(
          fc.record({
            role: fc.constantFrom('user', 'assistant', 'system', 'x'),
            content: fc.oneof(
              anyText,
              fc.array(
                fc.record({
                  type: fc.constantFrom('text', 'image', 'tool_use', 'tool_result', 'thinking', 'x'),
                  text: fc.oneof(anyText, fc.jsonValue()),
                }),
                { maxLength: 3 },
              ),
            ),
          }),
          { maxLength: 3 },
        ),
      ),
      system: fc.oneof(anyText, fc.jsonValue()),
      stream: fc.oneof(fc.boolean(), fc.jsonValue()),
      tools: fc.jsonValue(),
      thinking: fc.jsonValue(),
    },
    { requiredKeys: [] },
  )
  .map((body) => JSON.stringify(body));

const embeddingsJson = fc
  .record({ model: fc.constant('sim'), input: fc.oneof(anyText, fc.jsonValue()) })
  .map((body) => JSON.stringify(body));

const body = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: embeddingsJson },
  { weight: 2, arbitrary: responsesJson },
  { weight: 2, arbitrary: messagesJson },
  { weight: 2, arbitrary: validChat },
  { weight: 3, arbitrary: chatJson },
  { weight: 2, arbitrary: deepJson },
  { weight: 2, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 100 }) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 100 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  },
);

/** How the body is framed: a right length, chunked, no length at all, or a length longer than the body. */
const framing = fc.oneof(
  { weight: 6, arbitrary: fc.constant('length' as const) },
  { weight: 2, arbitrary: fc.constant('chunked' as const) },
  { weight: 1, arbitrary: fc.constant('none' as const) },
  { weight: 1, arbitrary: fc.constant('short' as const) },
);

/** The Responses and Messages routes with bodies of their own kind (independent draws rarely pair them). */
const surfaceCall = fc.oneof(
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant('/v1/responses'),
    body: fc.oneof(responsesJson, deepJson, fc.json()),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constantFrom('/v1/messages', '/v1/messages/count_tokens', '/v1/messages?beta=true'),
    body: fc.oneof(messagesJson, deepJson, fc.json()),
  }),
  fc.record({
    method: fc.constantFrom('GET', 'POST', 'DELETE'),
    path: resumePath,
    body: fc.oneof(fc.constant(''), fc.json()),
  }),
);

const request = fc
  .record({
    method,
    path,
    version,
    headers: fc.array(header, { maxLength: 5 }),
    body,
    framing,
    host: fc.nat(9).map((value) => value > 0),
    surface: fc.option(surfaceCall, { freq: 2 }),
  })
  .map(({ surface, ...drawn }) => ({ ...drawn, ...(surface ?? {}) }))
  .map(({ method, path, version, headers, body, framing, host }) => {
    const lines = [`${method} ${path} ${version}`.trimEnd()];
    if (host) lines.push('Host: 127.0.0.1');
    for (const [name, value] of headers) lines.push(`${name}: ${value}`);
    const bytes = Buffer.from(body, 'utf8');
    if (framing === 'length') lines.push(`Content-Length: ${bytes.length}`);
    if (framing === 'short') lines.push(`Content-Length: ${bytes.length + 10}`);
    let payload = bytes;
    if (framing === 'chunked') {
      lines.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([
        bytes.length > 0 ? Buffer.from(`${bytes.length.toString(16)}\r\n`) : Buffer.alloc(0),
        bytes,
        Buffer.from(bytes.length > 0 ? '\r\n0\r\n\r\n' : '0\r\n\r\n'),
      ]);
    }
    return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), payload]);
  });

const HEALTH = Buffer.from('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');

/** The status of the first answer on a connection, or `closed` when the gateway closed without one. */
function outcomeOf(connection: RawConnection): Promise<number | 'closed'> {
  return Promise.race([connection.status, connection.closed.then(() => 'closed' as const)]);
}

/** What `exchange` sees of a case that has not been answered in time. */
const LATE = Symbol('late');

/** Resolves after one turn of this process's event loop (its ready sockets read). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The status of the first answer, or `closed`. A hang is judged by the gateway's own progress,
 * not by wall time alone: a case still unanswered after `ANSWER_WITHIN_MS` is a hang only if the
 * gateway has since answered two `/health` requests in turn (so its event loop ran, with every
 * bound of its own that was due by then) and the case still has nothing. A machine too loaded to
 * run the gateway, or this test, thus reads as slow, never as a hang.
 */
async function exchange(bytes: Buffer): Promise<number | 'closed'> {
  const connection = await openRaw(port, bytes);
  const outcome = outcomeOf(connection);
  let timer: NodeJS.Timeout | undefined;
  try {
    const first = await Promise.race([
      outcome,
      new Promise<typeof LATE>((resolve) => {
        timer = setTimeout(() => resolve(LATE), ANSWER_WITHIN_MS);
      }),
    ]);
    if (first !== LATE) return first;
    for (let probe = 0; probe < 2; probe++) await askHealth();
    await turn();
    await turn();
    const settled = await Promise.race([outcome, turn().then((): typeof LATE => LATE)]);
    if (settled === LATE) throw new Error(`no answer within ${ANSWER_WITHIN_MS} ms, while /health answered`);
    return settled;
  } finally {
    clearTimeout(timer);
    connection.socket.destroy();
  }
}

/** `/health`'s status: only the test's own time bound limits it (a gateway that stops answering fails it). */
async function askHealth(): Promise<number | 'closed'> {
  const connection = await openRaw(port, HEALTH);
  try {
    return await outcomeOf(connection);
  } finally {
    connection.socket.destroy();
  }
}

function alive(): boolean {
  return child.exitCode === null && child.signalCode === null;
}

describe('request fuzzing against a gateway in its own process', () => {
  it(
    'never dies, always answers /health, never answers 500 and never logs an error, whatever the request',
    async () => {
      let cases = 0;
      await fc.assert(
        fc.asyncProperty(request, async (bytes) => {
          cases++;
          const context = `request ${JSON.stringify(bytes.toString('utf8').slice(0, 300))}`;
          const outcome = await exchange(bytes).catch((error: Error) => error.message);
          const health = await askHealth().catch((error: Error) => error.message);
          if (health !== 200 && alive())
            await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 500))]);
          expect(alive(), `the gateway died after ${context}:\n${stderr.slice(-2000)}`).toBe(true);
          expect(outcome, context).not.toBe(500);
          expect(String(outcome), context).not.toMatch(/^no answer/);
          expect(health, `/health after ${context}`).toBe(200);
          expect(errorLines, context).toEqual([]);
        }),
        { numRuns: 100_000, interruptAfterTimeLimit: FUZZ_TIME_MS, endOnFailure: true },
      );
      expect(cases).toBeGreaterThan(50);
    },
    FUZZ_TIME_MS + 30_000,
  );
});

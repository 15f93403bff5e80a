import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createParser } from 'eventsource-parser';
import { expect } from 'vitest';
import {
  type Gateway,
  type GatewayConfigInput,
  parseConfig,
  type StartGatewayOptions,
  startGateway,
} from '../src/index.js';

/** Starts a gateway on a free port with a silent logger and an instant sim, merged with `overrides`. */
export async function startTestGateway(
  overrides: Partial<GatewayConfigInput> = {},
  options: Omit<StartGatewayOptions, 'env'> = {},
): Promise<Gateway> {
  const config = parseConfig({
    providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 } },
    models: [{ match: '*', provider: 'sim' }],
    ...overrides,
    server: { port: 0, logLevel: 'silent', shutdownGraceMs: 2000, ...overrides.server },
    // Upstream errors come straight back unless a test asks for retries, so error tests stay exact.
    resilience: { ...overrides.resilience, retry: { attempts: 0, ...overrides.resilience?.retry } },
    usage: { store: 'memory', ...overrides.usage },
  });
  return startGateway(config, { ...options, env: {} });
}

/** A raw HTTP exchange: status, lower-case headers and the whole body as text. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends one request with node:http (no fetch, no SDK) and reads the whole response. */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** Sends one request and resolves once the response headers are in; `rest` resolves with the whole body. */
export function openResponse(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: RawResponse['headers']; rest: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          rest: new Promise((done, fail) => {
            response.on('end', () => done(body));
            response.on('error', fail);
          }),
        });
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** POSTs a JSON chat request. */
export function postChat(
  baseUrl: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return rawRequest(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** One SSE event of a raw body, as eventsource-parser reads it. */
export interface ParsedEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Parses an SSE body into events with eventsource-parser (comments and `retry:` fields are not events). */
export function parseSse(body: string): ParsedEvent[] {
  const events: ParsedEvent[] = [];
  const parser = createParser({
    onEvent: ({ id, event, data }) => {
      const parsed: ParsedEvent = { data };
      if (id !== undefined) parsed.id = id;
      if (event !== undefined) parsed.event = event;
      events.push(parsed);
    },
  });
  parser.feed(body);
  // A body cut inside its last event still yields what it holds of it.
  parser.feed('\n\n');
  return events;
}

/** The assistant text carried by the content deltas of a list of events. */
export function textOf(events: readonly ParsedEvent[]): string {
  let text = '';
  for (const event of events) {
    if (event.data === '[DONE]') continue;
    const chunk = JSON.parse(event.data) as { choices?: Array<{ delta?: { content?: string | null } }> };
    text += chunk.choices?.[0]?.delta?.content ?? '';
  }
  return text;
}

/** The built `spool` CLI (npm test builds before it runs the tests). */
export const SPOOL_CLI = fileURLToPath(new URL('../dist/bin/spool.js', import.meta.url));

/** Spawns a built `spool` CLI command and resolves once it prints `listening on <url>`. */
export async function spawnSpool(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [SPOOL_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  // Kept for the process's life (its logs), the newest 1 MiB of it.
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-1_048_576);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (!match?.[1]) return;
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      resolve(match[1]);
    };
    const onExit = () => reject(new Error(`spool ${args[0]} exited before listening: ${output}`));
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
  return { child, url, output: () => output };
}

/** Spawns the standalone sim (`spool sim`, its own process) on a free port. */
export async function spawnSim(extraArgs: string[] = []): Promise<{ child: ChildProcess; baseURL: string }> {
  const { child, url } = await spawnSpool(['sim', '--port', '0', ...extraArgs]);
  return { child, baseURL: url };
}

/**
 * Writes `directory/name.yaml`: a gateway (`spool serve --config`) that sends every model to the
 * standalone sim at `simBaseURL` (passing `x-spool-fault` on) and spools as `spool` says (strings are
 * quoted, so a key prefix may end with a colon). Returns the file's path.
 */
export async function writeSimGatewayConfig(
  directory: string,
  name: string,
  simBaseURL: string,
  spool: Record<string, string | number>,
): Promise<string> {
  const path = join(directory, `${name}.yaml`);
  await writeFile(
    path,
    [
      'server:',
      '  logLevel: warn',
      '  retryMs: 10',
      'providers:',
      '  upstream:',
      '    type: openai',
      `    baseURL: ${simBaseURL}`,
      '    passHeaders: [x-spool-fault]',
      'models:',
      '  - match: "*"',
      '    provider: upstream',
      'spool:',
      ...Object.entries(spool).map(([key, value]) => `  ${key}: ${JSON.stringify(value)}`),
    ].join('\n'),
  );
  return path;
}

/** The standalone sim's request counters. */
export async function simStats(
  baseURL: string,
): Promise<{ chatCompletions: number; streams: number; openStreams: number }> {
  return JSON.parse((await rawRequest(`${baseURL.replace(/\/v1$/, '')}/sim/stats`)).body);
}

/**
 * Sends a request and keeps only the first `cutAtBytes` bytes of the response body, then destroys
 * the socket: what a client sees when its connection dies at that byte.
 */
export function requestAndCut(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
  cutAtBytes: number,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers },
      (response) => {
        let received = Buffer.alloc(0);
        const finish = () => {
          request.destroy();
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: received.subarray(0, cutAtBytes).toString('utf8'),
          });
        };
        response.on('data', (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          if (received.length >= cutAtBytes) finish();
        });
        response.on('end', finish);
        response.on('error', () => finish());
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** The complete events of a cut body (those ended by their blank line) and the last id among them. */
export function completeEvents(body: string): { events: ParsedEvent[]; lastId: number } {
  const end = body.lastIndexOf('\n\n');
  const events = end < 0 ? [] : parseSse(body.slice(0, end + 2));
  const last = events.at(-1)?.id;
  return { events, lastId: last === undefined ? 0 : Number(last) };
}

/** Checks a reassembled stream: ids 1..n with no gap and no duplicate, `[DONE]` last, and the exact text. */
export function expectExactStream(events: readonly ParsedEvent[], text: string): void {
  expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));
  expect(events.at(-1)?.data).toBe('[DONE]');
  expect(textOf(events)).toBe(text);
}

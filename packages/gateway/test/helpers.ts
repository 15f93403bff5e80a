import { request as httpRequest } from 'node:http';
import { type Gateway, type GatewayConfigInput, parseConfig, startGateway } from '../src/index.js';

/** Starts a gateway on a free port with a silent logger and an instant sim, merged with `overrides`. */
export async function startTestGateway(overrides: Partial<GatewayConfigInput> = {}): Promise<Gateway> {
  const config = parseConfig({
    providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 } },
    models: [{ match: '*', provider: 'sim' }],
    ...overrides,
    server: { port: 0, logLevel: 'silent', shutdownGraceMs: 2000, ...overrides.server },
  });
  return startGateway(config, { env: {} });
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

/** One parsed SSE event of a raw body (a test-side parser: split on blank lines, read fields). */
export interface ParsedEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Parses an SSE body into events, ignoring comments and `retry:` blocks. */
export function parseSse(body: string): ParsedEvent[] {
  const events: ParsedEvent[] = [];
  for (const block of body.split('\n\n')) {
    const event: ParsedEvent = { data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) event.id = line.slice(4);
      else if (line.startsWith('event: ')) event.event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length === 0) continue;
    event.data = data.join('\n');
    events.push(event);
  }
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

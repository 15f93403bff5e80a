import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeComment, encodeEvent } from '@spool/protocol';

/** What the next request should suffer; requests take faults from the queue in order. */
type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; code?: string }
  /** Send an error status and the start of its JSON body, then nothing more (a connection gone quiet). */
  | { kind: 'status-stall'; status: number }
  | { kind: 'destroy-before-headers' }
  | { kind: 'cut-after'; events: number; midEvent?: boolean }
  | { kind: 'stall-after'; events: number; heartbeats?: number; heartbeatEveryMs?: number }
  | { kind: 'error-after'; events: number; code: string; type?: string }
  /**
   * A loaded machine: the whole process, client included, is busy for `busyMs` while the answer's
   * first bytes wait in the client's socket: its headers, or (once those were read) its first events.
   */
  | { kind: 'busy'; while: 'headers' | 'body'; busyMs: number }
  /** Answer 204 No Content, as the gateway does when nothing is left after the resume point. */
  | { kind: 'no-content' };

/** One request the server saw. */
interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface SseServerOptions {
  /** Content pieces of the completion, one event each. */
  tokens: string[];
  /** Behave like a plain OpenAI-compatible API: no X-Stream-Id, no event ids, no resume. */
  plain?: boolean;
  /** When set, requests need `Authorization: Bearer <validToken>`. */
  validToken?: string;
}

export interface SseServer {
  /** The API root, `http://127.0.0.1:<port>/v1`. */
  baseURL: string;
  origin: string;
  faults: Fault[];
  requests: RecordedRequest[];
  deletes: string[];
  validToken: string | undefined;
  /** The full text the tokens make. */
  text: string;
  close(): Promise<void>;
}

interface StoredEvent {
  id: number;
  data: string;
}

function chunkJson(delta: Record<string, unknown>, finishReason: string | null, extra: object = {}): string {
  return JSON.stringify({
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'sim',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
    ...extra,
  });
}

function buildEvents(tokens: string[]): StoredEvent[] {
  const data = [
    chunkJson({ role: 'assistant', content: '' }, null),
    ...tokens.map((token) => chunkJson({ content: token }, null)),
    chunkJson({}, 'stop', {
      usage: { prompt_tokens: 5, completion_tokens: tokens.length, total_tokens: 5 + tokens.length },
    }),
    '[DONE]',
  ];
  return data.map((text, index) => ({ id: index + 1, data: text }));
}

/**
 * A small node:http server speaking Spool's wire contract (X-Stream-Id, `id: n` on every event,
 * Idempotency-Key attach, GET /v1/streams/{id} with Last-Event-ID, 204 to a resume from the last
 * event, DELETE) with scripted faults.
 */
export async function startSseServer(options: SseServerOptions): Promise<SseServer> {
  const streams = new Map<string, StoredEvent[]>();
  const streamsByKey = new Map<string, string>();
  const timers = new Set<ReturnType<typeof setInterval> | ReturnType<typeof setTimeout>>();
  const state = {
    faults: [] as Fault[],
    requests: [] as RecordedRequest[],
    deletes: [] as string[],
    validToken: options.validToken,
  };

  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (piece: string) => {
      body += piece;
    });
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      state.requests.push({
        method: request.method ?? 'GET',
        path: url.pathname,
        headers: request.headers,
        body,
      });
      if (url.pathname === '/health') {
        response.end('ok');
        return;
      }
      if (state.validToken !== undefined && request.headers.authorization !== `Bearer ${state.validToken}`) {
        sendError(response, 401, 'invalid_api_key', 'Invalid API key.');
        return;
      }
      const streamMatch = /^\/v1\/streams\/([^/]+)$/.exec(url.pathname);
      if (request.method === 'DELETE' && streamMatch) {
        state.deletes.push(decodeURIComponent(streamMatch[1]!));
        response.writeHead(204).end();
        return;
      }
      const fault = state.faults.shift();
      if (fault?.kind === 'destroy-before-headers') {
        request.socket.destroy();
        return;
      }
      if (fault?.kind === 'status') {
        sendError(
          response,
          fault.status,
          fault.code ?? `http_${fault.status}`,
          'Scripted failure.',
          fault.headers,
        );
        return;
      }
      if (fault?.kind === 'status-stall') {
        response.writeHead(fault.status, {
          'content-type': 'application/json',
          'x-request-id': randomUUID(),
        });
        response.write('{"error":{"message":"Scripted');
        return;
      }
      let streamId: string;
      if (request.method === 'POST' && url.pathname === '/v1/chat/completions') {
        const key = request.headers['idempotency-key'];
        const existing = typeof key === 'string' && !options.plain ? streamsByKey.get(key) : undefined;
        streamId = existing ?? randomUUID();
        if (!existing) {
          streams.set(streamId, buildEvents(options.tokens));
          if (typeof key === 'string') streamsByKey.set(key, streamId);
        }
      } else if (request.method === 'GET' && streamMatch && !options.plain) {
        streamId = decodeURIComponent(streamMatch[1]!);
        if (!streams.has(streamId)) {
          sendError(response, 404, 'stream_not_found', 'Unknown stream.');
          return;
        }
      } else {
        sendError(response, 404, 'not_found', 'No such route.');
        return;
      }
      const lastEventId = options.plain ? 0 : Number(request.headers['last-event-id'] ?? 0);
      const events = streams.get(streamId)!.filter((event) => event.id > lastEventId);
      // As the gateway does: every stream here is finished, so a resume from its last event gets 204.
      if (fault?.kind === 'no-content' || (!options.plain && events.length === 0)) {
        response.writeHead(204, { 'x-request-id': randomUUID(), 'x-stream-id': streamId }).end();
        return;
      }
      const headers: Record<string, string> = {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-request-id': randomUUID(),
      };
      if (!options.plain) headers['x-stream-id'] = streamId;
      response.writeHead(200, headers);
      response.flushHeaders();
      const encode = (event: StoredEvent) =>
        encodeEvent(options.plain ? { data: event.data } : { id: event.id, data: event.data });
      if (fault?.kind === 'busy') {
        const sendAll = () => {
          for (const event of events) response.write(encode(event));
          response.end();
        };
        if (fault.while === 'headers') {
          busyFor(fault.busyMs);
          sendAll();
        } else {
          // Time for the client to read the headers and start waiting for the body.
          const timer = setTimeout(() => {
            timers.delete(timer);
            sendAll();
            busyFor(fault.busyMs);
          }, 50);
          timers.add(timer);
        }
        return;
      }
      const limit = fault && 'events' in fault ? fault.events : events.length;
      for (const event of events.slice(0, limit)) response.write(encode(event));
      if (!fault || (fault.kind === 'cut-after' && limit >= events.length)) {
        response.end();
        return;
      }
      if (fault.kind === 'cut-after') {
        const next = events[limit]!;
        // Cut inside the event: after its id line, before the blank line that would dispatch it.
        const partial = fault.midEvent ? encode(next).replace(/\n\n$/, '\n') : '';
        response.write(partial, () => request.socket.destroy());
        return;
      }
      if (fault.kind === 'error-after') {
        const errorData = JSON.stringify({
          error: {
            message: 'Scripted mid-stream failure.',
            type: fault.type ?? 'server_error',
            code: fault.code,
            param: null,
          },
        });
        response.end(
          encodeEvent(options.plain ? { data: errorData } : { id: events[limit]?.id ?? 0, data: errorData }),
        );
        return;
      }
      let beats = 0;
      if (fault.heartbeats) {
        const timer = setInterval(() => {
          response.write(encodeComment('ping'));
          beats += 1;
          if (beats >= (fault.heartbeats ?? 0)) {
            clearInterval(timer);
            timers.delete(timer);
            for (const event of events.slice(limit)) response.write(encode(event));
            response.end();
          }
        }, fault.heartbeatEveryMs ?? 20);
        timers.add(timer);
      }
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    baseURL: `${origin}/v1`,
    origin,
    get faults() {
      return state.faults;
    },
    set faults(value) {
      state.faults = value;
    },
    requests: state.requests,
    deletes: state.deletes,
    get validToken() {
      return state.validToken;
    },
    set validToken(value) {
      state.validToken = value;
    },
    text: options.tokens.join(''),
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sendError(
  response: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    'content-type': 'application/json',
    'x-request-id': randomUUID(),
    ...headers,
  });
  response.end(JSON.stringify({ error: { message, type: 'invalid_request_error', code, param: null } }));
}

/** Keeps the event loop busy for `ms`: no timer or socket callback of this process runs meanwhile. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Busy on purpose.
  }
}

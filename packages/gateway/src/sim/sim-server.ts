import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { encodeEvent, SSE_RESPONSE_HEADERS } from '@spool/protocol';
import { GatewayError } from '../errors.js';
import { FaultBudget } from '../faults/fault-spec.js';
import { readBody } from '../http/read-body.js';
import { asGatewayError, sendError, sendJson } from '../http/respond.js';
import { parseChatRequest } from '../http/validate-chat-request.js';
import { parseEmbeddingsRequest } from '../http/validate-embeddings-request.js';
import { admitFaults, paceFor, SIM_MODELS } from '../providers/sim-provider.js';
import { simEmbeddings } from './sim-embeddings.js';
import { emitSimEvents, SimDropSignal, type SimPace, simChunks, simCompletion } from './sim-response.js';

/** The sim is a test upstream behind the gateway: its bounds only keep a stray client from hurting it. */
const SIM_BODY_BOUNDS = { limitBytes: 16 * 1024 * 1024 };
const SIM_JSON_MAX_DEPTH = 1024;

/** Options of the standalone simulator. */
export interface SimServerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 8788 */
  port?: number;
  /** Delay before the first event. @default 0 */
  ttftMs?: number;
  /** Tokens per second; 0 = as fast as possible. @default 0 */
  tokensPerSecond?: number;
}

/** How many requests the sim has served, by kind (`GET /sim/stats`). */
interface SimStats {
  requests: number;
  chatCompletions: number;
  /** `POST /v1/embeddings` requests. */
  embeddings: number;
  streams: number;
  /** Streams being written right now. */
  openStreams: number;
}

/** A running standalone simulator. */
export interface SimServer {
  /** Base URL including `/v1`, ready for an OpenAI client. */
  readonly baseURL: string;
  readonly port: number;
  readonly stats: Readonly<SimStats>;
  close(): Promise<void>;
}

/**
 * The simulator as a standalone OpenAI-compatible server (`spool sim`), so the gateway and the
 * benchmarks cross a real HTTP hop. Its events carry no ids, like any plain upstream; a `drop-after`
 * fault destroys the socket mid-stream.
 */
export async function startSimServer(options: SimServerOptions = {}): Promise<SimServer> {
  const pace: SimPace = { ttftMs: options.ttftMs ?? 0, tokensPerSecond: options.tokensPerSecond ?? 0 };
  const budget = new FaultBudget();
  const stats: SimStats = { requests: 0, chatCompletions: 0, embeddings: 0, streams: 0, openStreams: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    stats.requests++;
    void handleSim(request, response).catch((error) => {
      const gatewayError = asGatewayError(error);
      if (!response.headersSent) sendError(response, gatewayError);
      else response.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function handleSim(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://sim').pathname;
    if (path === '/health') return sendJson(response, 200, { status: 'ok' });
    if (path === '/sim/stats') return sendJson(response, 200, stats);
    if (path === '/v1/models') {
      return sendJson(response, 200, {
        object: 'list',
        data: SIM_MODELS.map((id) => ({ id, object: 'model', created: 0, owned_by: 'spool-sim' })),
      });
    }
    const modelId = /^\/v1\/models\/([^/]+)$/.exec(path)?.[1];
    if (modelId !== undefined && (SIM_MODELS as readonly string[]).includes(modelId)) {
      return sendJson(response, 200, { id: modelId, object: 'model', created: 0, owned_by: 'spool-sim' });
    }
    if (path === '/v1/embeddings' && request.method === 'POST') {
      stats.embeddings++;
      const body = parseEmbeddingsRequest(await readBody(request, SIM_BODY_BOUNDS), SIM_JSON_MAX_DEPTH);
      admitFaults(budget, request.headers);
      return sendJson(response, 200, simEmbeddings(body));
    }
    if (path !== '/v1/chat/completions') throw GatewayError.of('not_found', `Unknown path ${path}`);
    if (request.method !== 'POST') throw GatewayError.of('method_not_allowed', 'Use POST');
    stats.chatCompletions++;
    const body = parseChatRequest(await readBody(request, SIM_BODY_BOUNDS), SIM_JSON_MAX_DEPTH);
    const { spec, faults } = admitFaults(budget, request.headers);
    if (body.stream !== true) return sendJson(response, 200, simCompletion(body));
    stats.streams++;
    stats.openStreams++;
    const controller = new AbortController();
    response.once('close', () => {
      stats.openStreams--;
      controller.abort();
    });
    response.writeHead(200, SSE_RESPONSE_HEADERS);
    request.socket.setNoDelay(true);
    try {
      for await (const data of emitSimEvents(
        simChunks(body),
        paceFor(pace, spec, body.model),
        faults,
        controller.signal,
      )) {
        if (!response.write(encodeEvent({ data }))) {
          await new Promise<void>((resolve) => {
            response.once('drain', resolve);
            response.once('close', resolve);
          });
        }
      }
      response.end();
    } catch (error) {
      if (error instanceof SimDropSignal) {
        // End the socket, not the response: what was written still arrives, then the connection
        // closes without the terminating chunk, as when a real upstream's connection drops.
        response.socket?.end();
        return;
      }
      if (controller.signal.aborted) return;
      throw error;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8788, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    baseURL: `http://${address.address}:${address.port}/v1`,
    port: address.port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

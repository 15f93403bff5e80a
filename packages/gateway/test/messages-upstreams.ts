import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request an upstream written for the tests received. */
interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A test upstream on a free loopback port: what it received, and how to stop it. */
export interface TestUpstream {
  url: string;
  received: ReceivedRequest[];
  close(): Promise<void>;
}

type Reply = (request: ReceivedRequest) => {
  status?: number;
  events?: Array<{ event?: string; data: unknown }>;
  json?: unknown;
};

/** Starts an HTTP upstream that answers each POST with `reply`: an SSE stream of `events`, or `json`. */
export async function startUpstream(reply: Reply): Promise<TestUpstream> {
  const received: ReceivedRequest[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const entry: ReceivedRequest = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
      };
      if (request.method === 'GET') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"object":"list","data":[]}');
        return;
      }
      received.push(entry);
      const answer = reply(entry);
      if (answer.json !== undefined) {
        response.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(answer.json));
        return;
      }
      response.writeHead(answer.status ?? 200, { 'content-type': 'text/event-stream' });
      for (const event of answer.events ?? []) {
        const data = typeof event.data === 'string' ? event.data : JSON.stringify(event.data);
        response.write(`${event.event ? `event: ${event.event}\n` : ''}data: ${data}\n\n`);
      }
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const base = { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1, model: 'upstream' };

/** A chat-completions chunk with one choice. */
function chatChunk(delta: Record<string, unknown>, finishReason: string | null = null) {
  return { data: { ...base, choices: [{ index: 0, delta, finish_reason: finishReason }] } };
}

/** The chunks of a chat stream that answers `words` one by one, then usage and `[DONE]`. */
export function chatTextStream(words: readonly string[]) {
  return [
    chatChunk({ role: 'assistant', content: '' }),
    ...words.map((word) => chatChunk({ content: word })),
    chatChunk({}, 'stop'),
    {
      data: {
        ...base,
        choices: [],
        usage: { prompt_tokens: 5, completion_tokens: words.length, total_tokens: 5 + words.length },
      },
    },
    { data: '[DONE]' },
  ];
}

/** The chunks of a chat stream that calls one tool, its arguments in fragments. */
export function chatToolCallStream(id: string, name: string, argumentFragments: readonly string[]) {
  return [
    chatChunk({ role: 'assistant', content: null }),
    chatChunk({ tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: '' } }] }),
    ...argumentFragments.map((fragment) =>
      chatChunk({ tool_calls: [{ index: 0, function: { arguments: fragment } }] }),
    ),
    chatChunk({}, 'tool_calls'),
    { data: { ...base, choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } } },
    { data: '[DONE]' },
  ];
}

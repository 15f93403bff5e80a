import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request a scripted upstream received. */
export interface ReceivedRequest {
  path: string;
  body: Record<string, unknown>;
}

/** A local HTTP upstream whose answers a test writes; it records every request. */
export interface ScriptedUpstream {
  url: string;
  received: ReceivedRequest[];
  close(): Promise<void>;
}

/** Starts a scripted upstream on a free loopback port. */
export async function startScriptedUpstream(
  handle: (request: ReceivedRequest, response: ServerResponse, raw: IncomingMessage) => void,
): Promise<ScriptedUpstream> {
  const received: ReceivedRequest[] = [];
  const server: Server = createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      text += chunk;
    });
    request.on('end', () => {
      const entry = {
        path: request.url ?? '',
        body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      };
      received.push(entry);
      handle(entry, response, request);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Writes a chat-completions stream of these chunk bodies (each gets id, object, model), then `[DONE]`. */
export function writeChatStream(
  response: ServerResponse,
  chunks: ReadonlyArray<Record<string, unknown>>,
): void {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const chunk of chunks) {
    const body = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', ...chunk };
    response.write(`data: ${JSON.stringify(body)}\n\n`);
  }
  response.end('data: [DONE]\n\n');
}

/** A chat stream's chunks for a tool call (`name`, its arguments in two pieces), with usage. */
export function toolCallChunks(name: string, args: string): Array<Record<string, unknown>> {
  const half = Math.floor(args.length / 2);
  return [
    { choices: [{ index: 0, delta: { role: 'assistant', content: null }, finish_reason: null }] },
    {
      choices: [
        {
          index: 0,
          delta: {
            tool_calls: [
              {
                index: 0,
                id: 'call_abc',
                type: 'function',
                function: { name, arguments: args.slice(0, half) },
              },
            ],
          },
          finish_reason: null,
        },
      ],
    },
    {
      choices: [
        {
          index: 0,
          delta: { tool_calls: [{ index: 0, function: { arguments: args.slice(half) } }] },
          finish_reason: null,
        },
      ],
    },
    { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
    { choices: [], usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } },
  ];
}

/** A chat stream's chunks for a text answer, one chunk per word, with usage. */
export function textChunks(text: string): Array<Record<string, unknown>> {
  const words = text.split(/(?<= )/);
  return [
    ...words.map((word) => ({ choices: [{ index: 0, delta: { content: word }, finish_reason: null }] })),
    { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    {
      choices: [],
      usage: { prompt_tokens: 20, completion_tokens: words.length, total_tokens: 20 + words.length },
    },
  ];
}

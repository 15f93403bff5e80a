import { parseArgs } from 'node:util';
import type { ChatCompletionRequest, ChatMessage } from '@spool/protocol';

/** Where `spool chat` connects unless told otherwise. */
const DEFAULT_BASE_URL = 'http://127.0.0.1:8787/v1';

export const CHAT_USAGE = `Usage: spool chat [options] "prompt"
       echo "prompt" | spool chat [options]

Streams a chat completion to stdout with @spool/client: drops are resumed, nothing lost or repeated.
A status line and the stream's stats go to stderr.

Options:
  --base-url <url>    OpenAI-compatible base URL (or SPOOL_BASE_URL; default ${DEFAULT_BASE_URL})
  --api-key <key>     API key (or SPOOL_API_KEY, OPENAI_API_KEY)
  --model <name>      Model (default sim)
  --system <text>     System message
  --max-tokens <n>    Most tokens to generate
  --json              Print the final completion as JSON instead of the text
  --no-status         No status line and no stats on stderr
  -h, --help          Show this help

Ctrl-C stops the stream and its generation (DELETE on the gateway) and exits with 130.
`;

/** What `spool chat` was asked to do, every default applied. */
export interface ChatCommandOptions {
  baseURL: string;
  apiKey: string | undefined;
  model: string;
  system: string | undefined;
  maxTokens: number | undefined;
  /** Print the final completion as JSON instead of the text. */
  json: boolean;
  /** Show the status line and the stats on stderr. */
  status: boolean;
  /** The prompt from the command line; `undefined` means: read it from stdin. */
  prompt: string | undefined;
}

/** The outcome of {@link parseChatArgs}. */
export type ParsedChatArgs = { help: true } | { help: false; options: ChatCommandOptions };

/** A command line `spool chat` cannot run; the message says what to change. */
export class ChatUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatUsageError';
  }
}

/** Parses `spool chat` arguments; flags win over the environment, which wins over the defaults. */
export function parseChatArgs(argv: string[], env: Record<string, string | undefined>): ParsedChatArgs {
  let parsed: ReturnType<typeof parseChatArgv>;
  try {
    parsed = parseChatArgv(argv);
  } catch (error) {
    throw new ChatUsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  let maxTokens: number | undefined;
  if (values['max-tokens'] !== undefined) {
    if (!/^\d+$/.test(values['max-tokens']) || Number(values['max-tokens']) < 1) {
      throw new ChatUsageError(`--max-tokens must be a whole number ≥ 1, got "${values['max-tokens']}".`);
    }
    maxTokens = Number(values['max-tokens']);
  }
  const baseURL = values['base-url'] ?? nonEmpty(env.SPOOL_BASE_URL) ?? DEFAULT_BASE_URL;
  if (!/^https?:\/\//i.test(baseURL)) {
    throw new ChatUsageError(
      `--base-url must be an http(s) URL such as ${DEFAULT_BASE_URL}, got "${baseURL}".`,
    );
  }
  const prompt = positionals.join(' ');
  return {
    help: false,
    options: {
      baseURL,
      apiKey: values['api-key'] ?? nonEmpty(env.SPOOL_API_KEY) ?? nonEmpty(env.OPENAI_API_KEY),
      model: values.model ?? 'sim',
      system: values.system,
      maxTokens,
      json: values.json ?? false,
      status: !values['no-status'],
      prompt: prompt.trim() === '' ? undefined : prompt,
    },
  };
}

function parseChatArgv(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'base-url': { type: 'string' },
      'api-key': { type: 'string' },
      model: { type: 'string' },
      system: { type: 'string' },
      'max-tokens': { type: 'string' },
      json: { type: 'boolean' },
      'no-status': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The request `spool chat` sends for `prompt`. */
export function buildChatRequest(options: ChatCommandOptions, prompt: string): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  if (options.system !== undefined) messages.push({ role: 'system', content: options.system });
  messages.push({ role: 'user', content: prompt });
  const request: ChatCompletionRequest = { model: options.model, messages };
  if (options.maxTokens !== undefined) request.max_tokens = options.maxTokens;
  return request;
}

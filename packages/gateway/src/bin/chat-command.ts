import { parseArgs } from 'node:util';
import {
  AbortError,
  type ChatStream,
  type ChatStreamEvent,
  createClient,
  SpoolClientError,
  type StreamStats,
} from '@spool/client';
import type { ChatCompletionRequest, ChatMessage } from '@spool/protocol';

const DEFAULT_BASE_URL = 'http://127.0.0.1:8787/v1';
/** Retries of a connection that never opened before `spool chat` gives up (about 1.5 s). */
const NEVER_CONNECTED_RETRIES = 2;

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

/** What the status line shows. */
export type StatusView =
  | { phase: 'connecting'; target: string }
  | { phase: 'waiting'; tokens: number }
  | { phase: 'streaming'; tokens: number }
  | { phase: 'reconnecting'; attempt: number; retryAtMs: number; reason: string; tokens: number }
  | { phase: 'resumed'; fromEventId: number; tokens: number };

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'] as const;

/** The status line's text for `view` at `nowMs`, with spinner frame `frame`. */
export function formatStatusLine(view: StatusView, nowMs: number, frame: number): string {
  const spinner = SPINNER[frame % SPINNER.length] as string;
  const tokens = (count: number) => (count === 1 ? '1 token' : `${count} tokens`);
  switch (view.phase) {
    case 'connecting':
      return `${spinner} connecting to ${view.target}`;
    case 'waiting':
      return `${spinner} connected, waiting for the first token`;
    case 'streaming':
      return `${spinner} streaming · ${tokens(view.tokens)}`;
    case 'reconnecting': {
      const seconds = (Math.max(0, view.retryAtMs - nowMs) / 1000).toFixed(1);
      return `${spinner} reconnecting in ${seconds}s (attempt ${view.attempt}) · ${view.reason}`;
    }
    case 'resumed':
      return `${spinner} resumed from event ${view.fromEventId} · ${tokens(view.tokens)}`;
  }
}

/** The status line after `event`; `tokens` counts the text deltas of the answer shown so far. */
export function nextStatusView(
  view: StatusView,
  event: ChatStreamEvent,
  nowMs: number,
  tokens: number,
): StatusView {
  switch (event.type) {
    case 'open':
      return { phase: 'waiting', tokens };
    case 'text-delta':
      // A resumed note stays up until the next status change, so it can be read.
      return view.phase === 'resumed' ? { ...view, tokens } : { phase: 'streaming', tokens };
    case 'reconnecting':
      return {
        phase: 'reconnecting',
        attempt: event.attempt,
        retryAtMs: nowMs + event.delayMs,
        reason: event.reason.code,
        tokens,
      };
    case 'resumed':
      return { phase: 'resumed', fromEventId: event.fromEventId, tokens };
    case 'restarted':
      return { phase: 'waiting', tokens: 0 };
    default:
      return view;
  }
}

/** One line of stats: time to first token, tokens/s, reconnects, bytes, stall time. */
export function formatStats(stats: StreamStats): string {
  const ttft = stats.timeToFirstTokenMs === undefined ? '–' : `${Math.round(stats.timeToFirstTokenMs)} ms`;
  const reconnects = stats.reconnects === 1 ? '1 reconnect' : `${stats.reconnects} reconnects`;
  return (
    `time to first token ${ttft} · ${stats.tokensPerSecond.toFixed(1)} tokens/s · ${stats.tokens} tokens · ` +
    `${reconnects} · ${formatBytes(stats.bytes)} · stall ${Math.round(stats.stallMs)} ms`
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The ANSI sequence that erases `screen` (text written since the answer began, cursor at its end)
 * from a terminal `columns` wide: back to its first row, then clear to the end of the screen.
 * Widths count code points, so wide characters can leave a row behind; the bytes on stdout are what matter.
 */
export function eraseSequence(screen: string, columns: number): string {
  const width = Math.max(1, columns);
  let rows = 0;
  for (const line of screen.split('\n')) rows += Math.max(1, Math.ceil([...line].length / width));
  return `\r${rows > 1 ? `\x1b[${rows - 1}A` : ''}\x1b[J`;
}

/** Where `spool chat` reads and writes; tests inject their own. */
export interface ChatCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Terminal width, to erase a restarted answer and keep the status line on one row. */
  columns: number;
  stdin: AsyncIterable<string | Uint8Array>;
  stdinIsTTY: boolean;
  env: Record<string, string | undefined>;
  /** Calls `handler` on Ctrl-C until the returned function is called. */
  onInterrupt: (handler: () => void) => () => void;
  now: () => number;
}

function processIo(): ChatCommandIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    columns: process.stderr.columns ?? process.stdout.columns ?? 80,
    stdin: process.stdin,
    stdinIsTTY: process.stdin.isTTY === true,
    env: process.env,
    onInterrupt: (handler) => {
      let count = 0;
      const listener = () => {
        count += 1;
        // A second Ctrl-C does not wait for the DELETE.
        if (count > 1) process.exit(130);
        handler();
      };
      process.on('SIGINT', listener);
      return () => process.off('SIGINT', listener);
    },
    now: Date.now,
  };
}

async function readAll(input: AsyncIterable<string | Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

/**
 * The status line on stderr, redrawn in place. While the answer is mid-line on the same terminal it
 * is drawn on the row below and the cursor is put back at the answer's end when it is cleared, so
 * the answer goes on where it stopped: a line break there would stay in the answer for good.
 */
class StatusLine {
  #view: StatusView;
  #frame = 0;
  #visible = false;
  /** Drawn below a mid-line answer, with the cursor saved on that row at the answer's column. */
  #below = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly io: ChatCommandIo,
    private readonly enabled: boolean,
    view: StatusView,
  ) {
    this.#view = view;
  }

  get view(): StatusView {
    return this.#view;
  }

  start(): void {
    if (!this.enabled) return;
    this.#timer = setInterval(() => {
      if (this.#visible) this.draw();
    }, 100);
    this.#timer.unref?.();
  }

  update(view: StatusView): void {
    this.#view = view;
  }

  draw(): void {
    if (!this.enabled) return;
    const line = formatStatusLine(this.#view, this.io.now(), this.#frame++);
    const fitted = [...line].slice(0, Math.max(10, this.io.columns - 1)).join('');
    this.io.stderr(`\r\x1b[2K${fitted}`);
    this.#visible = true;
  }

  /**
   * Draws the status on the row below the cursor, the answer being mid-line. IND (ESC D) moves down
   * one row keeping the column, scrolling when on the last row, and DECSC (ESC 7) saves that spot:
   * `clear` restores it and goes back up with RI (ESC M), to the column the answer stopped at.
   */
  drawBelow(): void {
    if (!this.enabled) return;
    if (!this.#below) {
      if (this.#visible) this.clear();
      this.io.stderr('\x1bD\x1b7');
      this.#below = true;
    }
    this.draw();
  }

  clear(): void {
    if (!this.#visible) return;
    this.io.stderr(this.#below ? '\r\x1b[2K\x1b8\x1bM' : '\r\x1b[2K');
    this.#visible = false;
    this.#below = false;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.clear();
  }
}

/**
 * `spool chat`: streams a chat completion to the terminal. On a terminal the text appears as it
 * arrives; piped, stdout gets the answer once it is complete, since bytes sent down a pipe cannot be
 * taken back if the stream has to start over (`restarted`). Resolves with the exit code.
 */
export async function runChatCommand(argv: string[], io: Partial<ChatCommandIo> = {}): Promise<number> {
  const terminal: ChatCommandIo = { ...processIo(), ...io };
  let parsed: ParsedChatArgs;
  try {
    parsed = parseChatArgs(argv, terminal.env);
  } catch (error) {
    if (!(error instanceof ChatUsageError)) throw error;
    terminal.stderr(`spool chat: ${error.message}\nRun \`spool chat --help\` for the options.\n`);
    return 1;
  }
  if (parsed.help) {
    terminal.stdout(CHAT_USAGE);
    return 0;
  }
  const { options } = parsed;
  let prompt = options.prompt;
  if (prompt === undefined) {
    if (terminal.stdinIsTTY) {
      terminal.stderr('spool chat: give a prompt, e.g. `spool chat "Hello"`, or pipe one on stdin.\n');
      return 1;
    }
    prompt = (await readAll(terminal.stdin)).trim();
    if (prompt === '') {
      terminal.stderr('spool chat: stdin was empty; give a prompt, e.g. `spool chat "Hello"`.\n');
      return 1;
    }
  }
  return streamToTerminal(options, prompt, terminal);
}

async function streamToTerminal(
  options: ChatCommandOptions,
  prompt: string,
  io: ChatCommandIo,
): Promise<number> {
  let stream: ChatStream;
  try {
    let opened = false;
    const client = createClient({
      baseURL: options.baseURL,
      apiKey: options.apiKey,
      // Once a stream is open, drops are worth the client's full patience; a gateway that was
      // never reached is most likely not running, so say so after a few quick tries.
      onRetry: ({ attempt, error }) =>
        !opened && error.code === 'network_error' && attempt > NEVER_CONNECTED_RETRIES ? false : undefined,
    });
    stream = client.chat.stream(buildChatRequest(options, prompt), {
      onStatus: (event) => {
        if (event.type === 'open') opened = true;
      },
    });
  } catch (error) {
    io.stderr(`spool chat: ${(error as Error).message}\n`);
    return 1;
  }
  const live = io.stdoutIsTTY && !options.json;
  const status = new StatusLine(io, options.status && io.stderrIsTTY, {
    phase: 'connecting',
    target: describeTarget(options.baseURL),
  });
  let cancelling: Promise<void> | undefined;
  const stopListening = io.onInterrupt(() => {
    cancelling ??= stream.cancel();
  });
  // Everything the answer put on the terminal since it began.
  let screen = '';
  let midLine = false;
  let tokens = 0;
  const showStatus = () => {
    // The same terminal shows the answer: the status goes below it rather than over it.
    if (live && midLine) status.drawBelow();
    else status.draw();
  };

  status.start();
  status.draw();
  try {
    for await (const event of stream) {
      if (event.type === 'text-delta') {
        if (event.choiceIndex !== 0) continue;
        tokens += 1;
        const next = nextStatusView(status.view, event, io.now(), tokens);
        const phaseChanged = next.phase !== status.view.phase;
        status.update(next);
        if (live) {
          status.clear();
          io.stdout(event.delta);
          screen += event.delta;
          midLine = !event.delta.endsWith('\n');
        } else if (phaseChanged) {
          // Token counts in between are redrawn by the spinner's timer.
          status.draw();
        }
        continue;
      }
      if (event.type === 'restarted') {
        status.clear();
        if (live && screen !== '') io.stdout(eraseSequence(screen, io.columns));
        screen = '';
        midLine = false;
        tokens = 0;
        io.stderr('spool chat: the server could not resume the stream; starting the answer over.\n');
      }
      const next = nextStatusView(status.view, event, io.now(), tokens);
      if (next !== status.view) {
        status.update(next);
        showStatus();
      }
    }
    const completion = await stream.finalCompletion();
    status.stop();
    const text = completion.choices[0]?.message.content ?? '';
    if (options.json) io.stdout(`${JSON.stringify(completion, null, 2)}\n`);
    else if (live) io.stdout(text.endsWith('\n') || text === '' ? '' : '\n');
    else io.stdout(`${text}\n`);
    if (options.status) io.stderr(`${formatStats(stream.stats())}\n`);
    return 0;
  } catch (error) {
    status.stop();
    if (midLine) io.stdout('\n');
    if (cancelling || error instanceof AbortError) {
      // Exit only once the gateway has been told to stop generating.
      await cancelling;
      io.stderr('spool chat: cancelled.\n');
      return 130;
    }
    io.stderr(`spool chat: ${describeError(error, options.baseURL)}\n`);
    return 1;
  } finally {
    stopListening();
  }
}

function describeTarget(baseURL: string): string {
  try {
    return new URL(baseURL).host;
  } catch {
    return baseURL;
  }
}

function describeError(error: unknown, baseURL: string): string {
  if (!(error instanceof SpoolClientError)) return (error as Error)?.message ?? String(error);
  const detail = error.status === undefined ? error.code : `HTTP ${error.status}, ${error.code}`;
  const hint =
    error.code === 'network_error'
      ? ` Is a gateway running at ${baseURL}? Start one with \`spool serve\` or pass --base-url.`
      : error.status === 401
        ? ' Pass --api-key or set SPOOL_API_KEY.'
        : '';
  return `${error.message} (${detail}).${hint}`;
}

import { AbortError, type ChatStream, createClient, SpoolClientError } from '@spool/client';
import {
  buildChatRequest,
  CHAT_USAGE,
  type ChatCommandOptions,
  ChatUsageError,
  type ParsedChatArgs,
  parseChatArgs,
} from './chat-args.js';
import { eraseSequence, formatStats, nextStatusView, StatusLine } from './chat-status-line.js';

/** Retries of a connection that never opened before `spool chat` gives up (about 1.5 s). */
const NEVER_CONNECTED_RETRIES = 2;

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

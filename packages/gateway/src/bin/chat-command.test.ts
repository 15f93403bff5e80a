import type { StreamStats } from '@spool/client';
import { createFaultProxy, cutAfterBytes, type FaultProxy, getFreePort } from '@spool/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestGateway } from '../../test/helpers.js';
import type { Gateway } from '../gateway.js';
import { type SimServer, startSimServer } from '../sim/sim-server.js';
import { simText } from '../sim/sim-text.js';
import { buildChatRequest, ChatUsageError, parseChatArgs } from './chat-args.js';
import { type ChatCommandIo, runChatCommand } from './chat-command.js';
import {
  eraseSequence,
  formatStats,
  formatStatusLine,
  nextStatusView,
  type StatusView,
} from './chat-status-line.js';

function runOptions(argv: string[], env: Record<string, string> = {}) {
  const parsed = parseChatArgs(argv, env);
  if (parsed.help) throw new Error('expected options, got help');
  return parsed.options;
}

describe('parseChatArgs', () => {
  it('applies the defaults: local gateway, sim model, status on, prompt from stdin', () => {
    expect(runOptions([])).toEqual({
      baseURL: 'http://127.0.0.1:8787/v1',
      apiKey: undefined,
      model: 'sim',
      system: undefined,
      maxTokens: undefined,
      json: false,
      status: true,
      prompt: undefined,
    });
  });

  it('reads the base URL and API key from the environment, SPOOL_API_KEY before OPENAI_API_KEY', () => {
    const env = { SPOOL_BASE_URL: 'http://gw:1/v1', SPOOL_API_KEY: 'sk-spool', OPENAI_API_KEY: 'sk-openai' };
    expect(runOptions(['hi'], env)).toMatchObject({ baseURL: 'http://gw:1/v1', apiKey: 'sk-spool' });
    expect(runOptions(['hi'], { OPENAI_API_KEY: 'sk-openai' }).apiKey).toBe('sk-openai');
  });

  it('lets flags win over the environment and joins positionals into one prompt', () => {
    const options = runOptions(
      [
        '--base-url',
        'https://other/v1',
        '--api-key',
        'sk-flag',
        '--model',
        'gpt-x',
        '--system',
        'Be brief',
        '--max-tokens',
        '12',
        '--json',
        '--no-status',
        'Hello',
        'there',
      ],
      { SPOOL_BASE_URL: 'http://gw:1/v1', SPOOL_API_KEY: 'sk-env' },
    );
    expect(options).toEqual({
      baseURL: 'https://other/v1',
      apiKey: 'sk-flag',
      model: 'gpt-x',
      system: 'Be brief',
      maxTokens: 12,
      json: true,
      status: false,
      prompt: 'Hello there',
    });
    expect(buildChatRequest(options, 'Hello there')).toEqual({
      model: 'gpt-x',
      max_tokens: 12,
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Hello there' },
      ],
    });
  });

  it('answers help for --help and -h', () => {
    expect(parseChatArgs(['--help'], {})).toEqual({ help: true });
    expect(parseChatArgs(['-h', 'ignored'], {})).toEqual({ help: true });
  });

  it('rejects unknown flags, a bad --max-tokens and a base URL that is not http(s)', () => {
    expect(() => parseChatArgs(['--temperature', '1'], {})).toThrow(ChatUsageError);
    expect(() => parseChatArgs(['--max-tokens', '0', 'hi'], {})).toThrow(/--max-tokens/);
    expect(() => parseChatArgs(['--max-tokens', '1.5', 'hi'], {})).toThrow(/--max-tokens/);
    expect(() => parseChatArgs(['--base-url', 'gw:8787', 'hi'], {})).toThrow(/--base-url/);
  });
});

describe('status line', () => {
  it('formats each phase, counting down to the next attempt', () => {
    expect(formatStatusLine({ phase: 'connecting', target: 'gw:8787' }, 0, 0)).toBe(
      '⠋ connecting to gw:8787',
    );
    expect(formatStatusLine({ phase: 'waiting', tokens: 0 }, 0, 1)).toBe(
      '⠙ connected, waiting for the first token',
    );
    expect(formatStatusLine({ phase: 'streaming', tokens: 1 }, 0, 2)).toBe('⠹ streaming · 1 token');
    const reconnecting: StatusView = {
      phase: 'reconnecting',
      attempt: 2,
      retryAtMs: 5_000,
      reason: 'network_error',
      tokens: 7,
    };
    expect(formatStatusLine(reconnecting, 3_800, 3)).toBe(
      '⠸ reconnecting in 1.2s (attempt 2) · network_error',
    );
    expect(formatStatusLine(reconnecting, 9_000, 13)).toBe(
      '⠸ reconnecting in 0.0s (attempt 2) · network_error',
    );
    expect(formatStatusLine({ phase: 'resumed', fromEventId: 17, tokens: 12 }, 0, 4)).toBe(
      '⠼ resumed from event 17 · 12 tokens',
    );
  });

  it('follows the stream: open, tokens, reconnecting, resumed, restarted', () => {
    const reason = { code: 'idle_timeout' } as never;
    let view: StatusView = { phase: 'connecting', target: 'gw' };
    view = nextStatusView(view, { type: 'open', streamId: 's' }, 0, 0);
    expect(view).toEqual({ phase: 'waiting', tokens: 0 });
    view = nextStatusView(view, { type: 'text-delta', choiceIndex: 0, delta: 'a', text: 'a' }, 0, 1);
    expect(view).toEqual({ phase: 'streaming', tokens: 1 });
    view = nextStatusView(view, { type: 'reconnecting', attempt: 1, delayMs: 400, reason }, 1_000, 1);
    expect(view).toEqual({
      phase: 'reconnecting',
      attempt: 1,
      retryAtMs: 1_400,
      reason: 'idle_timeout',
      tokens: 1,
    });
    view = nextStatusView(view, { type: 'resumed', fromEventId: 3, streamId: 's' }, 0, 1);
    expect(view).toEqual({ phase: 'resumed', fromEventId: 3, tokens: 1 });
    view = nextStatusView(view, { type: 'text-delta', choiceIndex: 0, delta: 'b', text: 'ab' }, 0, 2);
    expect(view).toEqual({ phase: 'resumed', fromEventId: 3, tokens: 2 });
    expect(nextStatusView(view, { type: 'restarted' }, 0, 0)).toEqual({ phase: 'waiting', tokens: 0 });
    expect(nextStatusView(view, { type: 'finish', choiceIndex: 0, finishReason: 'stop' }, 0, 2)).toBe(view);
  });

  it('formats the stats line', () => {
    const stats: StreamStats = {
      startedAt: 0,
      timeToFirstTokenMs: 123.4,
      tokens: 40,
      tokensPerSecond: 35.25,
      reconnects: 1,
      bytes: 6_200,
      events: 42,
      stallMs: 410.6,
      longPoll: false,
    };
    expect(formatStats(stats)).toBe(
      'time to first token 123 ms · 35.3 tokens/s · 40 tokens · 1 reconnect · 6.1 KiB · stall 411 ms',
    );
    expect(formatStats({ ...stats, timeToFirstTokenMs: undefined, reconnects: 0, bytes: 10 })).toMatch(
      /^time to first token – · .* · 0 reconnects · 10 B · /,
    );
  });

  it('erases a printed answer: back to its first row, then clear to the end of the screen', () => {
    expect(eraseSequence('short', 80)).toBe('\r\x1b[J');
    expect(eraseSequence('a'.repeat(100), 80)).toBe('\r\x1b[1A\x1b[J');
    expect(eraseSequence(`one\ntwo\n${'x'.repeat(81)}`, 80)).toBe('\r\x1b[3A\x1b[J');
  });
});

/** Injected terminal: captured output, a Ctrl-C trigger, and stdin. */
function fakeTerminal(overrides: Partial<ChatCommandIo> = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  let interruptHandler: (() => void) | undefined;
  const io: Partial<ChatCommandIo> = {
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    columns: 80,
    stdin: (async function* () {})(),
    stdinIsTTY: true,
    env: {},
    onInterrupt: (handler) => {
      interruptHandler = handler;
      return () => {
        interruptHandler = undefined;
      };
    },
    now: Date.now,
    ...overrides,
  };
  return {
    io,
    stdout: () => stdout.join(''),
    stderr: () => stderr.join(''),
    interrupt: () => interruptHandler?.(),
  };
}

describe('runChatCommand against real servers', () => {
  let gateway: Gateway | undefined;
  let sim: SimServer | undefined;
  let proxy: FaultProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await gateway?.close();
    await sim?.close();
    proxy = undefined;
    gateway = undefined;
    sim = undefined;
  });

  it('prints exactly the answer on stdout and the stats on stderr', async () => {
    gateway = await startTestGateway();
    const terminal = fakeTerminal();
    const code = await runChatCommand(['--base-url', `${gateway.url}/v1`, 'Hello', 'there'], terminal.io);
    expect(code).toBe(0);
    const expected = simText({ model: 'sim', messages: [{ role: 'user', content: 'Hello there' }] });
    expect(terminal.stdout()).toBe(`${expected}\n`);
    expect(terminal.stderr()).toMatch(
      /^time to first token \d+ ms · [\d.]+ tokens\/s · \d+ tokens · 0 reconnects/,
    );
  });

  it('reads a piped prompt and prints the completion as JSON with --json', async () => {
    gateway = await startTestGateway();
    const terminal = fakeTerminal({
      stdinIsTTY: false,
      stdin: (async function* () {
        yield Buffer.from('Tell me ');
        yield 'a story\n';
      })(),
    });
    const argv = ['--base-url', `${gateway.url}/v1`, '--json', '--system', 'Be brief', '--max-tokens', '5'];
    expect(await runChatCommand(argv, terminal.io)).toBe(0);
    const completion = JSON.parse(terminal.stdout());
    const messages = [
      { role: 'system' as const, content: 'Be brief' },
      { role: 'user' as const, content: 'Tell me a story' },
    ];
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0].message.content).toBe(simText({ model: 'sim', messages, max_tokens: 5 }));
    expect(completion.choices[0].finish_reason).toBe('length');
  });

  it('resumes after a cut and shows reconnecting and resumed on the status line', async () => {
    gateway = await startTestGateway();
    proxy = await createFaultProxy({
      target: { host: '127.0.0.1', port: gateway.port },
      plan: (index) => (index === 0 ? [cutAfterBytes(1_100)] : []),
    });
    const terminal = fakeTerminal({ stderrIsTTY: true });
    const code = await runChatCommand(['--base-url', `${proxy.url}/v1`, 'Resume me'], terminal.io);
    expect(code).toBe(0);
    const expected = simText({ model: 'sim', messages: [{ role: 'user', content: 'Resume me' }] });
    expect(terminal.stdout()).toBe(`${expected}\n`);
    expect(terminal.stderr()).toContain('connecting to 127.0.0.1');
    expect(terminal.stderr()).toMatch(/reconnecting in \d+\.\ds \(attempt 1\) · network_error/);
    expect(terminal.stderr()).toMatch(/resumed from event \d+/);
    expect(terminal.stderr()).toMatch(/1 reconnect · /);
  });

  it('reprints cleanly after a restart: piped stdout holds exactly one answer', async () => {
    // The standalone sim cannot resume (no X-Stream-Id), so a cut makes the client start over.
    sim = await startSimServer({ port: 0 });
    proxy = await createFaultProxy({
      target: { host: '127.0.0.1', port: sim.port },
      plan: (index) => (index === 0 ? [cutAfterBytes(900)] : []),
    });
    const terminal = fakeTerminal();
    expect(await runChatCommand(['--base-url', `${proxy.url}/v1`, 'Again'], terminal.io)).toBe(0);
    const expected = simText({ model: 'sim', messages: [{ role: 'user', content: 'Again' }] });
    expect(terminal.stdout()).toBe(`${expected}\n`);
    expect(terminal.stderr()).toContain('starting the answer over');
  });

  it('erases the partial answer on a terminal before reprinting it after a restart', async () => {
    sim = await startSimServer({ port: 0 });
    proxy = await createFaultProxy({
      target: { host: '127.0.0.1', port: sim.port },
      plan: (index) => (index === 0 ? [cutAfterBytes(900)] : []),
    });
    const terminal = fakeTerminal({ stdoutIsTTY: true, stderrIsTTY: true });
    expect(await runChatCommand(['--base-url', `${proxy.url}/v1`, 'Again'], terminal.io)).toBe(0);
    const expected = simText({ model: 'sim', messages: [{ role: 'user', content: 'Again' }] });
    const stdout = terminal.stdout();
    const erased = stdout.lastIndexOf('\x1b[J');
    expect(erased).toBeGreaterThan(0);
    expect(expected.startsWith(stdout.slice(0, stdout.indexOf('\r')))).toBe(true);
    expect(stdout.slice(erased + 3)).toBe(`${expected}\n`);
  });

  it('cancels on Ctrl-C: stops the generation on the gateway and exits with 130', async () => {
    gateway = await startTestGateway({ providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 20 } } });
    const context = gateway.context;
    let terminal: ReturnType<typeof fakeTerminal> | undefined;
    terminal = fakeTerminal({
      stdoutIsTTY: true,
      stdout: () => terminal?.interrupt(),
    });
    const code = await runChatCommand(['--base-url', `${gateway.url}/v1`, 'Stop me'], terminal.io);
    expect(code).toBe(130);
    expect(terminal.stderr()).toContain('cancelled');
    // The DELETE was answered before the command returned; the generation then winds down.
    await vi.waitFor(() => expect(context.relay.activeCount).toBe(0), { timeout: 2_000, interval: 10 });
  });

  it('fails with a clear message and exit code 1 on a non-retryable error', async () => {
    gateway = await startTestGateway({ models: [{ match: 'sim', provider: 'sim' }] });
    const terminal = fakeTerminal();
    const code = await runChatCommand(
      ['--base-url', `${gateway.url}/v1`, '--model', 'no-such-model', 'Hi'],
      terminal.io,
    );
    expect(code).toBe(1);
    expect(terminal.stdout()).toBe('');
    expect(terminal.stderr()).toMatch(/^spool chat: .*no-such-model.*\(HTTP 404, model_not_found\)\.\n$/);
  });

  it('gives up quickly with a hint when no gateway listens at the base URL', async () => {
    const port = await getFreePort();
    const terminal = fakeTerminal();
    const code = await runChatCommand(['--base-url', `http://127.0.0.1:${port}/v1`, 'Hi'], terminal.io);
    expect(code).toBe(1);
    expect(terminal.stderr()).toContain(`Is a gateway running at http://127.0.0.1:${port}/v1?`);
  });

  it('prints usage errors and help', async () => {
    const bad = fakeTerminal();
    expect(await runChatCommand(['--nope'], bad.io)).toBe(1);
    expect(bad.stderr()).toContain('spool chat --help');
    const noPrompt = fakeTerminal();
    expect(await runChatCommand([], noPrompt.io)).toBe(1);
    expect(noPrompt.stderr()).toContain('give a prompt');
    const help = fakeTerminal();
    expect(await runChatCommand(['--help'], help.io)).toBe(0);
    expect(help.stdout()).toContain('Usage: spool chat');
  });
});

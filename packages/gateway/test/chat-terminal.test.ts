import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createFaultProxy, cutAfterBytes, type FaultProxy } from '@spool/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import { SPOOL_CLI, startTestGateway } from './helpers.js';

const run = promisify(execFile);

/**
 * `spool chat` in a real terminal: tmux gives it a pseudo-terminal (stdout and stderr are TTYs)
 * and is the terminal emulator whose screen is read back. `capture-pane -J` joins rows the
 * terminal wrapped, so a line break only shows where one was written.
 */
function requireTmux(): void {
  if (spawnSync('tmux', ['-V']).status !== 0)
    throw new Error('These tests need tmux (a terminal to run `spool chat` in): apt-get install -y tmux');
}

describe('spool chat in a terminal', () => {
  let gateway: Gateway | undefined;
  let proxy: FaultProxy | undefined;
  let socket: string | undefined;
  afterEach(async () => {
    if (socket) await run('tmux', ['-L', socket, 'kill-server']).catch(() => {});
    await proxy?.close();
    await gateway?.close();
    socket = proxy = gateway = undefined;
  });

  it('leaves no line break in the answer where the status line showed a reconnect', async () => {
    requireTmux();
    gateway = await startTestGateway();
    // Three cuts mid-answer, each followed by a reconnect (and its status line), then a clean pipe.
    proxy = await createFaultProxy({
      target: { host: '127.0.0.1', port: gateway.port },
      plan: (index) => (index < 3 ? [cutAfterBytes(index === 0 ? 1_500 : 600)] : []),
    });
    const prompt = 'Tell me about resumable streams';
    const expected = simText({ model: 'sim', messages: [{ role: 'user', content: prompt }] });
    socket = `spool-chat-${randomBytes(6).toString('hex')}`;
    const command = [
      process.execPath,
      SPOOL_CLI,
      'chat',
      '--base-url',
      `${proxy.url}/v1`,
      `'${prompt}'`,
    ].join(' ');
    // The session stays open after the command, so its screen can be read; `wait-for` says it ended.
    const script = `${command}; echo "[exit $?]"; tmux -L ${socket} wait-for -S done; sleep 60`;
    const env = { ...process.env, TERM: 'xterm-256color' };
    await run('tmux', ['-L', socket, 'new-session', '-d', '-x', '100', '-y', '60', script], { env });
    // A signal sent before anyone waits is kept by tmux, so this cannot miss it.
    await run('tmux', ['-L', socket, 'wait-for', 'done'], { env, timeout: 20_000 });
    const { stdout: screen } = await run('tmux', ['-L', socket, 'capture-pane', '-p', '-J', '-S', '-'], {
      env,
    });
    const lines = screen.replace(/\n+$/, '').split('\n');
    expect(lines.at(-1)).toBe('[exit 0]');
    expect(lines.at(-2)).toMatch(/^time to first token .* · 3 reconnects · /);
    expect(lines.slice(0, -2).join('\n').trimEnd()).toBe(expected);
  });
});

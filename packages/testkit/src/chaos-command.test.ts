import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runChaosCommand } from './chaos-command.js';
import { connectClient, patternBytes, sendOnConnect, startTcpServer } from './tcp-fixtures.test-support.js';

/** Collects written text and resolves waiters when a line matching a pattern appears. */
function capture() {
  let text = '';
  const waiters: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void }[] = [];
  return {
    write(chunk: string) {
      text += chunk;
      for (const waiter of [...waiters]) {
        const match = text.match(waiter.pattern);
        if (!match) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
      return true;
    },
    text: () => text,
    waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
      const match = text.match(pattern);
      return match ? Promise.resolve(match) : new Promise((resolve) => waiters.push({ pattern, resolve }));
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('runChaosCommand', () => {
  it('prints usage for --help and returns 0', async () => {
    const stdout = capture();
    expect(await runChaosCommand(['--help'], { stdout })).toBe(0);
    expect(stdout.text()).toContain('Usage: spool chaos');
    expect(stdout.text()).toContain('--cut-after-bytes N');
  });

  it('explains a bad flag on stderr and returns 2 without starting anything', async () => {
    const stdout = capture();
    const stderr = capture();
    expect(await runChaosCommand(['--cut-random', 'lots'], { stdout, stderr })).toBe(2);
    expect(stderr.text()).toBe('spool chaos: --cut-random expects MIN-MAX (e.g. 200-2000), got "lots"\n');
    expect(stdout.text()).toBe('');
  });

  it('returns 1 when it cannot listen', async () => {
    const busy = await startTcpServer(() => {});
    cleanups.push(() => busy.close());
    const stderr = capture();
    const code = await runChaosCommand(
      ['--listen', `127.0.0.1:${busy.port}`, '--target', `127.0.0.1:${busy.port}`],
      {
        stdout: capture(),
        stderr,
      },
    );
    expect(code).toBe(1);
    expect(stderr.text()).toMatch(/could not listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  });

  it('proxies with faults, logs one line per connection and fault, and stops on SIGTERM', async () => {
    const target = await startTcpServer(sendOnConnect(patternBytes(100)));
    cleanups.push(() => target.close());
    const stdout = capture();
    const signals = new EventEmitter();
    const running = runChaosCommand(
      [
        '--listen',
        '127.0.0.1:0',
        '--target',
        `127.0.0.1:${target.port}`,
        '--cut-after-bytes',
        '37',
        '--every',
        '2',
        '--refuse-every',
        '3',
      ],
      { stdout, stderr: capture(), signals },
    );
    const [, port] = await stdout.waitFor(/listening on 127\.0\.0\.1:(\d+) → /);
    const lengths: number[] = [];
    for (let connection = 1; connection <= 3; connection += 1) {
      lengths.push((await connectClient(Number(port)).closed).bytes.length);
    }
    expect(lengths).toEqual([100, 37, 0]);
    await stdout.waitFor(/#3 closed/);
    signals.emit('SIGTERM');
    expect(await running).toBe(0);
    expect(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM')).toBe(0);
    const lines = stdout.text().trimEnd().split('\n');
    expect(lines[0]).toMatch(/cut after 37 B on connections #2, #4, …; refuse connections #3, #6, …$/);
    expect(lines).toContain('#2 cut after 37 bytes down');
    expect(lines).toContain('#3 refused (reset)');
    expect(lines.filter((line) => / connection from 127\.0\.0\.1:\d+/.test(line))).toHaveLength(3);
    expect(lines.at(-1)).toBe(
      'spool chaos: SIGTERM, stopped after 3 connections (1 cut, 0 stalled, 1 refused)',
    );
  });

  it('with --buffer whole, answers an HTTP response only once it has ended, through the faults', async () => {
    let finish = () => {};
    let reached = () => {};
    const requestReached = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const target = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: first\n\n', () => reached());
      finish = () => response.end('data: last\n\n');
    });
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    cleanups.push(async () => {
      target.closeAllConnections();
      await new Promise((resolve) => target.close(resolve));
    });
    const stdout = capture();
    const signals = new EventEmitter();
    const running = runChaosCommand(
      [
        '--listen',
        '127.0.0.1:0',
        '--target',
        `127.0.0.1:${(target.address() as AddressInfo).port}`,
        '--buffer',
        'whole',
      ],
      { stdout, stderr: capture(), signals },
    );
    const [, port] = await stdout.waitFor(
      /listening on 127\.0\.0\.1:(\d+) → .*buffering each response \(whole\)/,
    );
    let answered = false;
    const got = fetch(`http://127.0.0.1:${port}/`).then(async (response) => {
      answered = true;
      return response.text();
    });
    // The target has sent its headers and first event through both proxies: nothing is answered yet.
    await requestReached;
    await stdout.waitFor(/#1 connection from/);
    expect(answered).toBe(false);
    finish();
    expect(await got).toBe('data: first\n\ndata: last\n\n');
    signals.emit('SIGTERM');
    expect(await running).toBe(0);
  });
});

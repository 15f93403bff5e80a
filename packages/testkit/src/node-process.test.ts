import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collectSse } from './collect-sse.js';
import { spawnNodeProcess } from './node-process.js';

const directory = mkdtempSync(join(tmpdir(), 'spool-testkit-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function script(name: string, source: string): string {
  const path = join(directory, name);
  writeFileSync(path, source);
  return path;
}

const serverScript = script(
  'server.mjs',
  `import { createServer } from 'node:http';
const server = createServer((request, response) => response.end('hello ' + process.argv[2]));
server.listen(0, '127.0.0.1', () => console.log('listening on ' + server.address().port + ' as ' + process.env.GREETING));
process.on('SIGTERM', () => server.close(() => { console.log('bye'); process.exit(0); }));
`,
);

describe('spawnNodeProcess', () => {
  it('resolves with the ready match, passes args and env, and stop() sends SIGTERM and awaits the exit', async () => {
    const node = await spawnNodeProcess(serverScript, ['world'], {
      env: { GREETING: 'hi' },
      readyPattern: /listening on (\d+) as (\w+)/,
    });
    expect(node.match[2]).toBe('hi');
    const response = await collectSse(`http://127.0.0.1:${node.match[1]}/`);
    expect(response.text).toBe('hello world');
    expect(await node.stop()).toEqual({ code: 0, signal: null });
    expect(node.output()).toContain('bye');
  });

  it('kill() ends it with SIGKILL', async () => {
    const node = await spawnNodeProcess(serverScript, ['x'], { readyPattern: /listening on/ });
    expect(await node.kill()).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('rejects with the output when the script exits before it is ready', async () => {
    const failing = script('failing.mjs', "console.error('missing config'); process.exit(3);\n");
    await expect(spawnNodeProcess(failing, [], { readyPattern: /ready/ })).rejects.toMatchObject({
      code: 'process_exited',
      message: expect.stringContaining('code 3'),
      output: expect.stringContaining('missing config'),
    });
  });

  it('rejects and kills the child when the ready line does not come in time', async () => {
    const silent = script('silent.mjs', 'setInterval(() => {}, 1000);\n');
    await expect(
      spawnNodeProcess(silent, [], { readyPattern: /ready/, startTimeoutMs: 200 }),
    ).rejects.toMatchObject({
      code: 'start_timeout',
    });
  });
});

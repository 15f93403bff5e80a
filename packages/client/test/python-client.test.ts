import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** Debian's interpreter: the packages below are installed for it, not for a pyenv or venv `python3`. */
const PYTHON = '/usr/bin/python3';

describe('python/spool-client', () => {
  it('passes its pytest suite (httpx transports against a real gateway, sync and async)', () => {
    const probe = spawnSync(PYTHON, ['-c', 'import httpx, pytest'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      throw new Error(
        `${PYTHON} lacks httpx or pytest: run \`apt-get install python3-httpx python3-pytest\`.`,
      );
    }
    const run = spawnSync(PYTHON, ['-m', 'pytest', 'python/spool-client', '-q'], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 240_000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  }, 250_000);
});

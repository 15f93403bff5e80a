#!/usr/bin/env node
// The Debian packages the tests need, installed the way `playwright install --with-deps` does it:
// with apt-get when this process is root or non-interactive sudo works, otherwise stop at once with
// one line naming the command to run. `npm test` runs this first (`pretest`); it never lets the
// browser or Redis suites be skipped silently.
//
// The decision is a pure function (`planSystemDeps`), tested in scripts/system-deps.test.ts; `main`
// only probes the machine and runs what the plan says.
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

/**
 * Every Debian package the tests need (chromium: the browser tests; curl: the README's curl examples;
 * python3-httpx, python3-pytest: the Python client's suite; redis-server: the Redis suites; tmux: the
 * terminal test of `spool chat`): the one list. Add a package here and `npm test` installs it.
 * A package counts as present when dpkg has it installed, or when a command of its name is on PATH
 * (a chromium or redis-server installed some other way).
 */
export const SYSTEM_PACKAGES = [
  'chromium',
  'curl',
  'python3-httpx',
  'python3-pytest',
  'redis-server',
  'tmux',
];

/**
 * What to do about the missing packages.
 * @param {{ missing: string[], isRoot: boolean, sudoWorks: boolean }} machine
 * @returns {{ action: 'none' } | { action: 'install', commands: string[][] } | { action: 'error', line: string }}
 *   `install` lists the argv of each command to run, in order; `error` is the one line to print.
 */
export function planSystemDeps({ missing, isRoot, sudoWorks }) {
  if (missing.length === 0) return { action: 'none' };
  const packages = [...missing].sort();
  const install = ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages];
  if (isRoot) return { action: 'install', commands: [['apt-get', 'update', '-qq'], install] };
  if (sudoWorks) {
    return {
      action: 'install',
      commands: [
        ['sudo', '-n', 'apt-get', 'update', '-qq'],
        ['sudo', '-n', 'env', 'DEBIAN_FRONTEND=noninteractive', ...install],
      ],
    };
  }
  return {
    action: 'error',
    line: `npm test needs Debian packages that are missing (${packages.join(', ')}): run \`sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages.join(' ')}\`, then npm test again`,
  };
}

function commandExists(name) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' }).status === 0;
}

function debianPackageInstalled(name) {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax, not JavaScript's.
  const result = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.includes('install ok installed');
}

function main() {
  const missing = SYSTEM_PACKAGES.filter((name) => !commandExists(name) && !debianPackageInstalled(name));
  const isRoot = process.getuid?.() === 0;
  const sudoWorks =
    missing.length > 0 && !isRoot && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  const plan = planSystemDeps({ missing, isRoot, sudoWorks });
  if (plan.action === 'none') return 0;
  if (plan.action === 'error') {
    process.stderr.write(`${plan.line}\n`);
    return 1;
  }
  process.stderr.write(`installing Debian packages the tests need: ${missing.join(', ')}\n`);
  for (const [command, ...args] of plan.commands) {
    const result = spawnSync(command, args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.status !== 0) {
      process.stderr.write(
        `\`${[command, ...args].join(' ')}\` failed (exit ${result.status ?? result.signal})\n`,
      );
      return 1;
    }
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main();

import { describe, expect, test } from 'vitest';
import { planSystemDeps, SYSTEM_PACKAGES } from './system-deps.mjs';

describe('planSystemDeps: what npm test does about missing Debian packages', () => {
  test('does nothing when every package is present, whoever runs it', () => {
    for (const isRoot of [true, false]) {
      for (const sudoWorks of [true, false]) {
        expect(planSystemDeps({ missing: [], isRoot, sudoWorks })).toEqual({ action: 'none' });
      }
    }
  });

  test('as root, updates the package lists once and then installs only what is missing', () => {
    expect(planSystemDeps({ missing: ['redis-server', 'chromium'], isRoot: true, sudoWorks: false })).toEqual(
      {
        action: 'install',
        commands: [
          ['apt-get', 'update', '-qq'],
          ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'chromium', 'redis-server'],
        ],
      },
    );
  });

  test('without root but with non-interactive sudo, installs through sudo -n', () => {
    const plan = planSystemDeps({ missing: ['chromium'], isRoot: false, sudoWorks: true });
    expect(plan).toEqual({
      action: 'install',
      commands: [
        ['sudo', '-n', 'apt-get', 'update', '-qq'],
        [
          'sudo',
          '-n',
          'env',
          'DEBIAN_FRONTEND=noninteractive',
          'apt-get',
          'install',
          '-y',
          '-qq',
          '--no-install-recommends',
          'chromium',
        ],
      ],
    });
  });

  test('without root or sudo, stops with one line that names the exact command to run', () => {
    const plan = planSystemDeps({ missing: ['redis-server', 'chromium'], isRoot: false, sudoWorks: false });
    expect(plan.action).toBe('error');
    if (plan.action !== 'error') return;
    expect(plan.line).not.toContain('\n');
    expect(plan.line).toContain(
      'sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium redis-server',
    );
  });

  test('the list names the packages the browser and Redis suites need', () => {
    expect(SYSTEM_PACKAGES).toEqual(expect.arrayContaining(['chromium', 'redis-server']));
  });
});

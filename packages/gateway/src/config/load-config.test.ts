import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from './load-config.js';

describe('configuration', () => {
  it('defaults to the sim serving every model on 127.0.0.1:8787 with a memory spool', async () => {
    const config = await loadConfig({ env: {} });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8787, heartbeatIntervalMs: 15_000 });
    expect(config.providers).toEqual({ sim: { type: 'sim', ttftMs: 300, tokensPerSecond: 40 } });
    expect(config.models).toEqual([{ match: '*', provider: 'sim' }]);
    expect(config.spool).toMatchObject({
      store: 'memory',
      retentionMs: 3_600_000,
      maxStreamBytes: 8 * 1024 * 1024,
      disconnectGraceMs: null,
    });
  });

  it('routes every model but sim* to OPENAI_BASE_URL when it is set and no file is given', async () => {
    const config = await loadConfig({ env: { OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1', PORT: '9000' } });
    expect(config.providers.openai).toMatchObject({
      type: 'openai',
      baseURL: 'http://127.0.0.1:11434/v1',
      apiKeyEnv: 'OPENAI_API_KEY',
    });
    expect(config.models).toEqual([
      { match: 'sim*', provider: 'sim' },
      { match: '*', provider: 'openai' },
    ]);
    expect(config.server.port).toBe(9000);
  });

  it('switches the spool to Redis when REDIS_URL is set', async () => {
    const config = await loadConfig({ env: { REDIS_URL: 'redis://127.0.0.1:6379' } });
    expect(config.spool).toMatchObject({ store: 'redis', redisUrl: 'redis://127.0.0.1:6379' });
  });

  it('reads YAML and JSON files, and flags win over the file', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'spool-config-'));
    const yamlPath = join(directory, 'spool.yaml');
    await writeFile(
      yamlPath,
      'server:\n  port: 7000\nproviders:\n  fast:\n    type: sim\n    tokensPerSecond: 0\nmodels:\n  - match: "*"\n    provider: fast\n',
    );
    expect((await loadConfig({ configPath: yamlPath, env: {} })).server.port).toBe(7000);
    expect((await loadConfig({ configPath: yamlPath, env: {}, overrides: { port: 7001 } })).server.port).toBe(
      7001,
    );
    const jsonPath = join(directory, 'spool.json');
    await writeFile(jsonPath, JSON.stringify({ keys: [{ name: 'ci', key: 'sk-0123456789' }] }));
    expect((await loadConfig({ configPath: jsonPath, env: {} })).keys).toHaveLength(1);
  });

  it('names every bad field in one error', () => {
    const attempt = () =>
      parseConfig(
        {
          server: { port: 'eighty' },
          providers: { up: { type: 'openai', baseURL: 'not a url' } },
          models: [{ match: 'gpt-*', provider: 'up' }, { match: 'x' }],
          keys: [{ name: 'k' }],
        },
        'spool.yaml',
      );
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const { issues, message } = error as ConfigError;
      expect(message).toContain('Invalid spool.yaml');
      expect(issues.some((issue) => issue.startsWith('server.port:'))).toBe(true);
      expect(issues.some((issue) => issue.startsWith('providers.up.baseURL:'))).toBe(true);
      expect(
        issues.some((issue) => issue.startsWith('models[1]: set exactly one of `provider` or `targets`')),
      ).toBe(true);
      expect(issues.some((issue) => issue.startsWith('keys[0]:'))).toBe(true);
    }
  });

  it('refuses a body budget smaller than the largest body, naming the field', () => {
    expect(() => parseConfig({ server: { bodyLimitBytes: 2048, bodyBudgetBytes: 1024 } })).toThrow(
      /server\.bodyBudgetBytes/,
    );
    expect(parseConfig({ server: { bodyLimitBytes: 1024, bodyBudgetBytes: 1024 } }).server).toMatchObject({
      bodyTimeoutMs: 30_000,
      jsonMaxDepth: 128,
    });
  });

  it('names an unknown provider beside type errors elsewhere, not only the first kind of problem', () => {
    let issues: readonly string[] = [];
    try {
      parseConfig({
        server: { port: 'eighty' },
        spool: { store: 'redis' },
        providers: { up: { type: 'sim', tokensPerSecond: -1 } },
        models: [
          { match: 'a', provider: 'ghost' },
          { match: 'b', targets: [{ provider: 'up' }, { provider: 'phantom' }] },
        ],
      });
    } catch (error) {
      issues = (error as ConfigError).issues;
    }
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.port:/),
        expect.stringMatching(/^providers\.up\.tokensPerSecond:/),
        'models[0].provider: unknown provider "ghost" (configured: up)',
        'models[1].targets[1].provider: unknown provider "phantom" (configured: up)',
        'spool.redisUrl: required when spool.store is "redis" (or set REDIS_URL)',
      ]),
    );
    expect(issues).toHaveLength(5);
  });

  it('names a limits, usage or spool store that lacks its URL beside type errors, and takes spool.redisUrl for all', () => {
    let issues: readonly string[] = [];
    try {
      parseConfig({
        server: { port: -1 },
        limits: { store: 'redis' },
        usage: { store: 'postgres' },
        spool: { store: 'redis', redisUrl: '' },
      });
    } catch (error) {
      issues = (error as ConfigError).issues;
    }
    expect(issues).toEqual([
      expect.stringMatching(/^server\.port:/),
      'spool.redisUrl: required when spool.store is "redis" (or set REDIS_URL)',
      'limits.redisUrl: required when limits.store is "redis" (or set spool.redisUrl / REDIS_URL)',
      'usage.postgresUrl: required when usage.store is "postgres"',
    ]);
    expect(() => parseConfig({ usage: { store: 'redis' } })).toThrow(/usage\.redisUrl: required/);
    const shared = parseConfig({
      limits: { store: 'redis' },
      usage: { store: 'redis' },
      spool: { store: 'redis', redisUrl: 'redis://127.0.0.1:6379' },
    });
    expect([shared.limits.redisUrl, shared.usage.redisUrl]).toEqual([undefined, undefined]);
  });

  it('refuses a route to a provider that is not configured, and unknown fields', () => {
    expect(() => parseConfig({ models: [{ match: '*', provider: 'ghost' }] })).toThrow(
      /models\[0\]\.provider: unknown provider "ghost"/,
    );
    expect(() => parseConfig({ server: { prot: 1 } })).toThrow(/server/);
  });

  it('explains an unreadable or unparsable file', async () => {
    await expect(loadConfig({ configPath: '/nonexistent/spool.yaml', env: {} })).rejects.toThrow(
      /Cannot read configuration file/,
    );
    const directory = await mkdtemp(join(tmpdir(), 'spool-config-'));
    const broken = join(directory, 'broken.yaml');
    await writeFile(broken, 'server: [unclosed');
    await expect(loadConfig({ configPath: broken, env: {} })).rejects.toThrow(/Cannot parse/);
  });
});

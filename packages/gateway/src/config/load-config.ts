import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type GatewayConfig, type GatewayConfigInput } from './schema.js';

/** Thrown when the configuration is invalid; the message names every bad field. */
export class ConfigError extends Error {
  readonly code = 'invalid_config';
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path
      .map((part, index) =>
        typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`,
      )
      .join('');
    return `${path || '(root)'}: ${issue.message}`;
  });
}

/**
 * Validates a configuration object, applying defaults, including the checks across fields (every
 * route names a configured provider, a Redis store has a URL). Every bad field is named in one
 * `ConfigError`.
 * @param source names the file in error messages.
 */
export function parseConfig(input: unknown, source = 'configuration'): GatewayConfig {
  const result = configSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issues = formatIssues(result.error.issues);
  throw new ConfigError(`Invalid ${source}:\n  ${issues.join('\n  ')}`, issues);
}

/** Where the configuration comes from besides the file. */
export interface ConfigSources {
  /** Path of a YAML or JSON configuration file. */
  configPath?: string | undefined;
  /** The environment (PORT, HOST, REDIS_URL, OPENAI_BASE_URL, OPENAI_API_KEY, LOG_LEVEL, SPOOL_CONFIG). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Values that win over the file and the environment (command-line flags). */
  overrides?: { port?: number | undefined; host?: string | undefined; logLevel?: string | undefined };
}

/**
 * Builds the configuration: the file when one is given (or `SPOOL_CONFIG` names one); else, with
 * `OPENAI_BASE_URL` set, every model but `sim*` goes to that upstream; else the sim serves every
 * model. Environment and flags then override the server settings.
 */
export async function loadConfig(sources: ConfigSources = {}): Promise<GatewayConfig> {
  const env = sources.env ?? process.env;
  const configPath = sources.configPath ?? env.SPOOL_CONFIG;
  let input: Record<string, unknown>;
  let source = 'configuration';
  if (configPath) {
    source = configPath;
    let text: string;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (error) {
      throw new ConfigError(`Cannot read configuration file ${configPath}: ${(error as Error).message}`);
    }
    try {
      input = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (error) {
      throw new ConfigError(`Cannot parse ${configPath}: ${(error as Error).message}`);
    }
    if (typeof input !== 'object' || Array.isArray(input))
      throw new ConfigError(`${configPath}: expected a mapping at the top level`);
  } else if (env.OPENAI_BASE_URL) {
    input = {
      providers: {
        sim: { type: 'sim' },
        openai: { type: 'openai', baseURL: env.OPENAI_BASE_URL, apiKeyEnv: 'OPENAI_API_KEY' },
      },
      models: [
        { match: 'sim*', provider: 'sim' },
        { match: '*', provider: 'openai' },
      ],
    };
  } else {
    input = {};
  }
  const server = { ...(input.server as Record<string, unknown> | undefined) };
  if (env.PORT) server.port = Number(env.PORT);
  if (env.HOST) server.host = env.HOST;
  if (env.LOG_LEVEL) server.logLevel = env.LOG_LEVEL;
  const { overrides } = sources;
  if (overrides?.port !== undefined) server.port = overrides.port;
  if (overrides?.host !== undefined) server.host = overrides.host;
  if (overrides?.logLevel !== undefined) server.logLevel = overrides.logLevel;
  const spool = { ...(input.spool as Record<string, unknown> | undefined) };
  if (env.REDIS_URL && spool.redisUrl === undefined) {
    spool.redisUrl = env.REDIS_URL;
    if (spool.store === undefined) spool.store = 'redis';
  }
  return parseConfig({ ...input, server, spool } satisfies GatewayConfigInput as unknown, source);
}

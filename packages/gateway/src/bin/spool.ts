#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { startGateway } from '../gateway.js';
import { startSimServer } from '../sim/sim-server.js';

const USAGE = `Usage: spool <command> [options]

Commands:
  serve   Start the gateway (OpenAI-compatible, resumable streams).
            --config <file>   YAML or JSON configuration (or SPOOL_CONFIG)
            --port <n>        Port (or PORT; default 8787)
            --host <addr>     Interface (or HOST; default 127.0.0.1)
  sim     Start the standalone simulator (an OpenAI-compatible upstream).
            --port <n>        Port (default 8788)   --host <addr>
            --ttft-ms <n>     Time to first token (default 0)
            --tps <n>         Tokens per second, 0 = as fast as possible (default 0)
  chaos   Start a fault-injecting TCP proxy (spool chaos --help).
  chat    Stream a chat completion to the terminal (spool chat --help).
`;

function integer(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${flag} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`${signal}: draining open streams, then exiting (again to force)\n`);
    void stop().then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = await loadConfig({
    configPath: values.config,
    overrides: { port: integer(values.port, '--port'), host: values.host },
  });
  const gateway = await startGateway(config);
  const providers = Object.entries(config.providers)
    .map(([name, provider]) => `${name} (${provider.type})`)
    .join(', ');
  const mode =
    config.keys.length === 0
      ? 'dev mode: no API keys, loopback clients only'
      : `${config.keys.length} API key(s)`;
  process.stdout.write(
    `Spool gateway listening on ${gateway.url}\n` +
      `  Chat page: ${gateway.url}/\n` +
      `  OpenAI base URL: ${gateway.url}/v1   providers: ${providers}   spool: ${config.spool.store}   ${mode}\n`,
  );
  onSignals(() => gateway.close());
  return -1;
}

async function sim(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'ttft-ms': { type: 'string' },
      tps: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const server = await startSimServer({
    port: integer(values.port, '--port') ?? 8788,
    host: values.host ?? '127.0.0.1',
    ttftMs: integer(values['ttft-ms'], '--ttft-ms') ?? 0,
    tokensPerSecond: integer(values.tps, '--tps') ?? 0,
  });
  process.stdout.write(`Spool sim listening on ${server.baseURL}\n`);
  onSignals(() => server.close());
  return -1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'sim':
      return sim(rest);
    case 'chaos': {
      const { runChaosCommand } = await import('@spool/testkit');
      return runChaosCommand(rest);
    }
    case 'chat': {
      const { runChatCommand } = await import('./chat-command.js');
      return runChatCommand(rest);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    // An error with a code (a bad config, a refused connection, a port in use) says what failed in
    // its message; only an unexpected one needs its stack.
    const message =
      error instanceof Error && typeof (error as { code?: unknown }).code === 'string'
        ? error.message
        : error instanceof Error
          ? (error.stack ?? error.message)
          : String(error);
    process.stderr.write(`spool: ${message}\n`);
    process.exitCode = 1;
  },
);

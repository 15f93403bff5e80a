import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import { parseMessagesRequest } from '../src/surfaces/messages/messages-schema.js';
import { messagesToChatRequest } from '../src/translate/messages-to-chat.js';
import { startTestGateway } from './helpers.js';

// Claude Code from npm (`@anthropic-ai/claude-code`, a dev dependency) ships its native binary for
// this platform as an optional dependency; its postinstall links it to bin/claude.exe. The
// platform package is used directly, so the test does not depend on install scripts having run.
const require = createRequire(import.meta.url);

function claudeBinary(): string | undefined {
  try {
    const platformPackage = `@anthropic-ai/claude-code-${process.platform}-${process.arch}/package.json`;
    const binary = join(dirname(require.resolve(platformPackage)), 'claude');
    if (existsSync(binary)) return binary;
  } catch {}
  try {
    const wrapper = join(
      dirname(require.resolve('@anthropic-ai/claude-code/package.json')),
      'bin',
      'claude.exe',
    );
    // Without its postinstall, the wrapper's bin is a small placeholder, not the program.
    if (existsSync(wrapper) && statSync(wrapper).size > 1_000_000) return wrapper;
  } catch {}
  return undefined;
}

const CLAUDE = claudeBinary();
const KEY = 'sk-claude-code-0123456789';

/** Runs `claude -p` headless against the gateway, with telemetry and auto-update off, bounded in time. */
function runClaude(
  baseURL: string,
  home: string,
  prompt: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      CLAUDE as string,
      ['-p', prompt],
      {
        cwd: home,
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          ANTHROPIC_BASE_URL: baseURL,
          ANTHROPIC_API_KEY: KEY,
          DISABLE_TELEMETRY: '1',
          DISABLE_AUTOUPDATER: '1',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    // No stdin: `claude -p` would otherwise wait for piped input.
    child.stdin?.end();
  });
}

describe.skipIf(CLAUDE === undefined)('Claude Code (claude -p) through the gateway', () => {
  let gateway: Gateway;
  let home: string;
  const paths: string[] = [];
  const bodies: Buffer[] = [];

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'spool-claude-'));
    gateway = await startTestGateway({
      keys: [{ name: 'claude-code', key: KEY }],
      providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 } },
      models: [{ match: '*', provider: 'sim' }],
    });
    // What Claude Code sends, read beside the gateway (a second 'data' listener sees the same bytes).
    gateway.server.on('request', (request: IncomingMessage) => {
      paths.push(`${request.method} ${request.url}`);
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.url?.startsWith('/v1/messages')) bodies.push(Buffer.concat(chunks));
      });
    });
  });

  afterAll(async () => {
    await gateway.close();
    await rm(home, { recursive: true, force: true });
  });

  it('completes a prompt headless and prints the sim’s answer, streamed through /v1/messages', async () => {
    const result = await runClaude(gateway.url, home, 'Say hello through the gateway.');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(paths).toContain('POST /v1/messages?beta=true');
    // The sim's answer to the request as the gateway translated it, word for word.
    const sent = parseMessagesRequest(bodies.at(-1) as Buffer, 128);
    expect(sent.stream).toBe(true);
    expect(result.stdout.trim()).toBe(simText(messagesToChatRequest(sent)).trim());
  }, 70_000);
});

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type NodeProcess, spawnNodeProcess } from '@spool/testkit';
import { transform } from 'esbuild';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../src/index.js';
import { type CodeBlock, codeBlocks, shellCommands, shellWords } from './readme-blocks.js';

// Every code block of every README is run here, against a gateway started the way `npm start` and
// `npx spool serve` start it (no configuration: the simulator answers every model):
// - `sh` blocks with curl run through `sh -c` and the system's curl, the README's address and
//   illustrative stream id replaced with the real ones; the output the comments show is checked.
// - `sh` blocks of `spool …` lines run each line with `--help` appended: every command and flag exists.
// - `sh` blocks of `npm …` lines: the scripts they run exist, the packages they install are public.
// - `ts` blocks are compiled with esbuild and run with Node; `ts` and `tsx` blocks are type-checked
//   together with the repository's compiler settings (a `tsx` block is a component: checked only).
// - `yaml` blocks are configurations and must pass the gateway's schema.
// - `python` blocks run with Debian's /usr/bin/python3.
// Any other block fails the test: a README example nothing checks is one that can go stale.

const run = promisify(execFile);
const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));
const SPOOL_BIN = join(REPOSITORY, 'packages/gateway/dist/bin/spool.js');
const README_ADDRESS = 'http://127.0.0.1:8787';
const README_STREAM_ID = 'str_Qm…';
const READMES = [
  'README.md',
  'packages/gateway/README.md',
  'packages/client/README.md',
  'packages/protocol/README.md',
  'packages/react/README.md',
  'packages/testkit/README.md',
  'apps/chat/README.md',
];

interface FoundBlock extends CodeBlock {
  file: string;
}

async function readmeBlocks(): Promise<FoundBlock[]> {
  const found: FoundBlock[] = [];
  for (const file of READMES) {
    const path = join(REPOSITORY, file);
    if (!existsSync(path)) continue;
    for (const block of codeBlocks(await readFile(path, 'utf8'))) found.push({ ...block, file });
  }
  return found;
}

const blocks = await readmeBlocks();
let gateway: NodeProcess;
let baseURL: string;
let workDir: string;
// Inside the repository's node_modules, so that the blocks' imports resolve to the workspace packages.
let scratch: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'spool-readme-'));
  await mkdir(join(REPOSITORY, 'node_modules/.cache'), { recursive: true });
  scratch = await mkdtemp(join(REPOSITORY, 'node_modules/.cache/spool-readme-'));
  gateway = await spawnNodeProcess(SPOOL_BIN, ['serve', '--port', '0'], {
    cwd: workDir,
    env: {
      SPOOL_CONFIG: undefined,
      OPENAI_BASE_URL: undefined,
      REDIS_URL: undefined,
      PORT: undefined,
      HOST: undefined,
      LOG_LEVEL: 'warn',
    },
    readyPattern: /listening on (http:\/\/\S+)/,
    startTimeoutMs: 20_000,
  });
  baseURL = gateway.match[1] as string;
});

afterAll(async () => {
  await gateway?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function title(block: FoundBlock): string {
  return `${block.file}:${block.line} (${block.language || 'no language'})`;
}

/** `curl` through `sh -c`: each command in turn, the README's ids replaced with the real ones. */
async function runCurlBlock(block: FoundBlock): Promise<void> {
  let streamId: string | undefined;
  for (const { command, expectedLines } of shellCommands(block.code)) {
    expect(command, `${title(block)}: a curl block runs curl only`).toMatch(/^curl /);
    let runnable = command.replaceAll(README_ADDRESS, baseURL);
    if (runnable.includes(README_STREAM_ID)) {
      expect(streamId, `${title(block)}: no earlier command printed an x-stream-id`).toBeDefined();
      runnable = runnable.replaceAll(README_STREAM_ID, streamId as string);
    }
    const { stdout } = await run('sh', ['-c', `${runnable} --silent --show-error --max-time 20`], {
      timeout: 25_000,
    });
    const output = stdout.split(/\r?\n/).map((line) => line.toLowerCase());
    streamId ??= /^x-stream-id: (\S+)/im.exec(stdout)?.[1];
    for (const claimed of expectedLines) {
      const wanted = claimed.toLowerCase();
      expect(
        output.some(
          (line) =>
            line === wanted ||
            line.startsWith(`${wanted} `) ||
            (wanted.endsWith(':') && line.startsWith(wanted)),
        ),
        `${title(block)}: \`${command}\` should print "${claimed}"; it printed:\n${stdout.slice(0, 2000)}`,
      ).toBe(true);
    }
    const resumedAfter = /last-event-id: (\d+)/i.exec(command)?.[1];
    const firstId = /^id: (\d+)$/m.exec(stdout)?.[1];
    if (resumedAfter !== undefined && firstId !== undefined)
      expect(Number(firstId)).toBe(Number(resumedAfter) + 1);
  }
}

/** `spool …` lines: each run with `--help` appended, so every command and flag it shows is accepted. */
async function runCliBlock(block: FoundBlock): Promise<void> {
  await Promise.all(
    shellCommands(block.code).map(async ({ command }) => {
      const words = shellWords(command).map((word) => word.replace(/^\[|\]$/g, ''));
      expect(words[0], `${title(block)}: a CLI block runs spool only`).toBe('spool');
      const result = await run(process.execPath, [SPOOL_BIN, ...words.slice(1), '--help'], {
        timeout: 15_000,
      });
      expect(result.stdout, `${command} --help`).toContain('Usage: spool');
    }),
  );
}

/** `npm …` lines: the scripts exist, the installed packages are this repository's public ones. */
async function checkNpmBlock(block: FoundBlock): Promise<void> {
  const manifest = JSON.parse(await readFile(join(REPOSITORY, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const publicPackages = new Map<string, boolean>();
  for (const folder of ['client', 'gateway', 'protocol', 'react', 'testkit']) {
    const pkg = JSON.parse(await readFile(join(REPOSITORY, 'packages', folder, 'package.json'), 'utf8')) as {
      name: string;
      private?: boolean;
    };
    publicPackages.set(pkg.name, pkg.private !== true);
  }
  for (const { command } of shellCommands(block.code)) {
    for (const step of command.replace(/\s+#.*$/, '').split('&&')) {
      const [tool, subcommand, ...rest] = shellWords(step.trim());
      expect(tool, `${title(block)}: an npm block runs npm only`).toBe('npm');
      if (subcommand === 'install' || subcommand === 'i') {
        for (const name of rest.filter((word) => !word.startsWith('-'))) {
          expect(publicPackages.get(name.replace(/@[^@/]*$/, '')), `${name} is a public package here`).toBe(
            true,
          );
        }
      } else if (subcommand === 'start' || subcommand === 'test') {
        expect(manifest.scripts[subcommand]).toBeDefined();
      } else if (subcommand === 'run') {
        expect(manifest.scripts[rest[0] as string]).toBeDefined();
      } else {
        expect(subcommand, `${title(block)}: npm ${subcommand} is not checked`).toBe('ci');
      }
    }
  }
}

async function runTypeScriptBlock(block: FoundBlock, index: number): Promise<void> {
  const source = block.code.replaceAll(README_ADDRESS, baseURL);
  const { code } = await transform(source, { loader: 'ts', format: 'esm', target: 'node20' });
  const file = join(scratch, `block-${index}.mjs`);
  await writeFile(file, code);
  // A failing example exits non-zero (execFile rejects with its stderr); a working one prints its answer.
  const result = await run(process.execPath, [file], { timeout: 30_000, cwd: workDir });
  expect(result.stdout.length).toBeGreaterThan(0);
  // `console.log(…); // 200 false 1`: the comment is what that line prints (unless it says "e.g.").
  const printed = result.stdout.split('\n').map((line) => line.trim());
  for (const [, claimed] of block.code.matchAll(/^\s*console\.log\(.*\);\s*\/\/\s*(.+)$/gm)) {
    if (claimed?.startsWith('e.g.')) continue;
    expect(printed, `${title(block)} should print "${claimed}"`).toContain(claimed?.trim());
  }
}

/** Debian's python3 (with its packages: scripts/system-deps.mjs) rather than whatever `python3` is first on PATH. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

async function runPythonBlock(block: FoundBlock, index: number): Promise<void> {
  const file = join(scratch, `block-${index}.py`);
  await writeFile(file, block.code.replaceAll(README_ADDRESS, baseURL));
  // As after `pip install ./python/spool-client`.
  const result = await run(PYTHON, [file], {
    timeout: 30_000,
    cwd: workDir,
    env: { ...process.env, PYTHONPATH: join(REPOSITORY, 'python/spool-client/src') },
  });
  expect(result.stdout.length).toBeGreaterThan(0);
}

function typeCheck(files: Map<string, FoundBlock>): string[] {
  const program = ts.createProgram([...files.keys()], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    strict: true,
    noUncheckedIndexedAccess: true,
    jsx: ts.JsxEmit.ReactJSX,
    types: ['node'],
    skipLibCheck: true,
    noEmit: true,
    noUnusedLocals: false,
  });
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const block = diagnostic.file ? files.get(diagnostic.file.fileName) : undefined;
    const where =
      block && diagnostic.file && diagnostic.start !== undefined
        ? `${block.file}:${block.line + 1 + diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line}`
        : (diagnostic.file?.fileName ?? '');
    return `${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
  });
}

describe('every README code block runs', () => {
  test('the READMEs have code blocks to check', () => {
    expect(blocks.length).toBeGreaterThan(5);
  });

  blocks.forEach((block, index) => {
    test(`${title(block)} works as shown`, async () => {
      switch (block.language) {
        case 'sh':
        case 'bash':
        case 'shell':
          if (/^curl /m.test(block.code)) return runCurlBlock(block);
          if (/^spool /m.test(block.code)) return runCliBlock(block);
          if (/^npm /m.test(block.code)) return checkNpmBlock(block);
          throw new Error(`${title(block)}: no runner for this shell block`);
        case 'ts':
          return runTypeScriptBlock(block, index);
        case 'tsx':
          return; // type-checked below
        case 'python':
        case 'py':
          return runPythonBlock(block, index);
        case 'yaml':
          parseConfig(parseYaml(block.code), title(block));
          return;
        default:
          throw new Error(`${title(block)}: a README block in a language nothing runs (${block.language})`);
      }
    });
  });

  test('every ts and tsx block type-checks against the built packages', async () => {
    const files = new Map<string, FoundBlock>();
    for (const [index, block] of blocks.entries()) {
      if (block.language !== 'ts' && block.language !== 'tsx') continue;
      const file = join(scratch, `typecheck-${index}.${block.language}`);
      // `export {}` makes each block a module of its own, as it is in a user's file.
      await writeFile(file, `${block.code}\nexport {};\n`);
      files.set(file, block);
    }
    expect(files.size).toBeGreaterThan(0);
    expect(typeCheck(files).map((line) => line.replace(relative('', scratch), ''))).toEqual([]);
  }, 60_000);
});

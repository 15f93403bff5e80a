import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type NodeProcess, spawnNodeProcess } from '@spool/testkit';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { simText } from '../src/index.js';
import { type Lockfile, offlineLockfile, type PackedWorkspace } from './offline-lockfile.js';

// Packs the public packages as `npm publish` would, installs the tarballs into an empty project
// outside the workspace — offline, from npm's cache, which `npm ci` filled — and uses them there the
// way the README says a user does. Run after `npm run build` (npm test builds first): it packs dist/
// and the chat page built into packages/gateway/public.

const run = promisify(execFile);
const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));
const PUBLIC_PACKAGES = [
  { name: '@spool/protocol', location: 'packages/protocol' },
  { name: '@spool/client', location: 'packages/client' },
  { name: '@spool/react', location: 'packages/react' },
  { name: '@spool/testkit', location: 'packages/testkit' },
  { name: '@spool/gateway', location: 'packages/gateway' },
];

/** npm's own variables (set when this runs under `npm test`) would point the child npm at the workspace. */
function npmEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name)) env[name] = value;
  }
  return { ...env, NO_UPDATE_NOTIFIER: '1' };
}

let root: string;
let project: string;
let gateway: NodeProcess | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'spool-install-'));
  project = join(root, 'project');
  await mkdir(join(root, 'tarballs'));
  await mkdir(project);
  const { stdout } = await run(
    'npm',
    [
      'pack',
      '--json',
      '--pack-destination',
      join(root, 'tarballs'),
      ...PUBLIC_PACKAGES.map((workspace) => `--workspace=${workspace.name}`),
    ],
    { cwd: REPOSITORY, env: npmEnvironment(), maxBuffer: 16 * 1024 * 1024 },
  );
  const tarballs = JSON.parse(stdout) as Array<{ name: string; filename: string }>;
  const packed: PackedWorkspace[] = PUBLIC_PACKAGES.map((workspace) => {
    const tarball = tarballs.find((entry) => entry.name === workspace.name);
    if (!tarball) throw new Error(`npm pack did not pack ${workspace.name}`);
    return { ...workspace, spec: `file:../tarballs/${tarball.filename}` };
  });
  const workspaceLock = JSON.parse(await readFile(join(REPOSITORY, 'package-lock.json'), 'utf8')) as Lockfile;
  const lock = offlineLockfile(workspaceLock, packed);
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'spool-install-check',
      private: true,
      type: 'module',
      dependencies: lock.packages['']?.dependencies,
    }),
  );
  await writeFile(join(project, 'package-lock.json'), JSON.stringify(lock));
  const install = (mode: '--offline' | '--prefer-offline') =>
    run('npm', ['install', mode, '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: project,
      env: npmEnvironment(),
    });
  // `npm ci` left every registry tarball in npm's cache; a cache cleaned since then needs the registry.
  await install('--offline').catch((error: { stderr?: string }) => {
    if (!error.stderr?.includes('ENOTCACHED')) throw error;
    return install('--prefer-offline');
  });
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the packed packages, installed into a project outside the workspace', () => {
  test('npx spool serve starts the gateway, and / is the built chat page', async () => {
    const help = await run('npx', ['--no-install', 'spool', 'chaos', '--help'], {
      cwd: project,
      env: npmEnvironment(),
    });
    expect(help.stdout + help.stderr).toContain('--cut-random');
    // `npx spool` runs node_modules/.bin/spool: started directly so the test controls the process.
    gateway = await spawnNodeProcess(join(project, 'node_modules/.bin/spool'), ['serve', '--port', '0'], {
      cwd: project,
      env: { SPOOL_CONFIG: undefined, OPENAI_BASE_URL: undefined, REDIS_URL: undefined, PORT: undefined },
      readyPattern: /listening on (http:\/\/\S+)/,
      startTimeoutMs: 20_000,
    });
    const baseURL = gateway.match[1] as string;
    const page = await fetch(`${baseURL}/`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).not.toContain('has not been built');
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    expect(script).toBeDefined();
    expect((await fetch(`${baseURL}${script}`)).status).toBe(200);

    const messages = [{ role: 'user' as const, content: 'Hello from an installed client' }];
    const program = `
      import { createClient } from '@spool/client';
      const client = createClient({ baseURL: process.argv[2] + '/v1' });
      let text = '';
      for await (const event of client.chat.stream({ model: 'sim', messages: ${JSON.stringify(messages)} })) {
        if (event.type === 'text-delta') text += event.delta;
      }
      process.stdout.write(JSON.stringify({ text }));
    `;
    await writeFile(join(project, 'stream.mjs'), program);
    const streamed = await run(process.execPath, ['stream.mjs', baseURL], { cwd: project });
    expect(JSON.parse(streamed.stdout)).toEqual({ text: simText({ model: 'sim', messages }) });
  }, 60_000);

  test('every package imports in Node and type-checks from its published declarations', async () => {
    const names = PUBLIC_PACKAGES.map((workspace) => workspace.name);
    const program = `for (const name of ${JSON.stringify(names)}) console.log(name, Object.keys(await import(name)).length > 0);`;
    await writeFile(join(project, 'imports.mjs'), program);
    const imported = await run(process.execPath, ['imports.mjs'], { cwd: project });
    expect(imported.stdout.trim().split('\n')).toEqual(names.map((name) => `${name} true`));

    const usage = join(project, 'usage.ts');
    await writeFile(
      usage,
      `import { createClient } from '@spool/client';
import { startGateway, parseConfig } from '@spool/gateway';
import { STREAM_ID_HEADER } from '@spool/protocol';
import { useChat } from '@spool/react';
import { createFaultProxy } from '@spool/testkit';
const text: Promise<string> = createClient({ baseURL: 'http://x/v1' }).chat.stream({ model: 'm', messages: [] }).text();
// Each line below is an error only if the package's declarations were found (an unresolved one is \`any\`).
// @ts-expect-error baseURL is required
createClient({});
// @ts-expect-error a configuration is required
void startGateway();
// @ts-expect-error a header name is a string
const header: number = STREAM_ID_HEADER;
// @ts-expect-error useChat takes options
useChat(1);
// @ts-expect-error the target is required
void createFaultProxy({});
export { text, parseConfig, header };
`,
    );
    const checked = ts.createProgram([usage], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      // The packages' declarations are what is checked, through the uses above; their dependencies' are not.
      skipLibCheck: true,
      types: [],
      typeRoots: [join(REPOSITORY, 'node_modules/@types')],
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(checked)
      .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    expect(diagnostics).toEqual([]);
  }, 60_000);
});

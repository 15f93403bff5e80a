/**
 * What @spool/client costs a browser page: its core (with @spool/protocol, which it bundles)
 * minified and gzipped, with eventsource-parser left external and measured on its own, since an
 * app may already ship it. Bundled by esbuild from the TypeScript sources (no build needed).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLIENT_ENTRY = join(ROOT, 'packages/client/src/index.ts');

/** The core's size target, min+gzip. */
export const CORE_TARGET_BYTES = 6 * 1024;

/** `node:` module specifiers left in a bundle's import statements (a browser cannot load them). */
export function nodeImportsIn(code) {
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'](node:[^"']+)["']/g;
  return [...code.matchAll(pattern)].map((match) => match[1]);
}

async function bundle(name, entry) {
  const result = await build({
    bundle: true,
    write: false,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    // The sources, as the workspace's own tooling reads them.
    conditions: ['@spool/source'],
    external: ['eventsource-parser'],
    metafile: true,
    logLevel: 'silent',
    ...entry,
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`esbuild produced no output for ${name}`);
  const code = output.text;
  const externals = Object.values(result.metafile.outputs).flatMap((out) =>
    out.imports.filter((item) => item.external).map((item) => item.path),
  );
  const inputs = Object.values(result.metafile.outputs).flatMap((out) =>
    Object.entries(out.inputs).map(([path, input]) => ({ path, bytes: input.bytesInOutput })),
  );
  return {
    name,
    code,
    inputs: inputs.sort((left, right) => right.bytes - left.bytes),
    minBytes: Buffer.byteLength(code),
    gzipBytes: gzipSync(code, { level: 9 }).length,
    externals,
    nodeImports: [
      ...new Set([...nodeImportsIn(code), ...externals.filter((path) => path.startsWith('node:'))]),
    ],
  };
}

/**
 * Bundles the core (everything `@spool/client` exports), the smallest real use (`createClient`
 * only, tree-shaken), and the part of eventsource-parser the client imports.
 */
export async function measureClientSize() {
  const core = await bundle('core', { entryPoints: [CLIENT_ENTRY] });
  const createClientOnly = await bundle('createClient only', {
    stdin: {
      contents: `export { createClient } from ${JSON.stringify(CLIENT_ENTRY)};`,
      resolveDir: ROOT,
      loader: 'ts',
    },
  });
  const parser = await bundle('eventsource-parser', {
    stdin: { contents: "export { createParser } from 'eventsource-parser';", resolveDir: ROOT },
    external: [],
  });
  return { core, createClientOnly, parser, targetBytes: CORE_TARGET_BYTES };
}

function kib(bytes) {
  return `${(bytes / 1024).toFixed(2)} KiB`;
}

/** The measurement as a Markdown table. */
export function formatSizeTable({ core, createClientOnly, parser, targetBytes }) {
  const verdict = core.gzipBytes <= targetBytes ? 'within' : 'over';
  const rows = [
    ['bundle', 'min', 'min+gzip', 'target (min+gzip)'],
    ['---', '---:', '---:', '---'],
    [
      '@spool/client core (all exports, eventsource-parser external)',
      kib(core.minBytes),
      kib(core.gzipBytes),
      `${kib(targetBytes)}: ${verdict} by ${kib(Math.abs(targetBytes - core.gzipBytes))}`,
    ],
    [
      '`createClient` only (tree-shaken)',
      kib(createClientOnly.minBytes),
      kib(createClientOnly.gzipBytes),
      '',
    ],
    ['eventsource-parser (`createParser`)', kib(parser.minBytes), kib(parser.gzipBytes), ''],
    [
      'core + eventsource-parser',
      kib(core.minBytes + parser.minBytes),
      kib(core.gzipBytes + parser.gzipBytes),
      '',
    ],
  ];
  return rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
}

/** The core's largest source files by minified bytes, as a Markdown table. */
export function formatBreakdown({ core }, top = 8) {
  const rows = [
    ['source file', 'min bytes in the core'],
    ['---', '---:'],
    ...core.inputs
      .slice(0, top)
      .map((input) => [input.path.replace(/^.*?packages\//, ''), String(input.bytes)]),
  ];
  return rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
}

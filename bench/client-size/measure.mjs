/**
 * What @spool/client costs a browser page: its core (with @spool/protocol, which it bundles)
 * minified and gzipped, with eventsource-parser left external and measured on its own, since an
 * app may already ship it. Bundled by esbuild from the TypeScript sources (no build needed).
 *
 * The core is what `import { createClient } from '@spool/client'` loads up front in a browser with
 * streaming fetch: the entry chunk of a code-split build. Chunks reached only through `import()`
 * (the XHR transport, the scheduler) load on demand and are reported apart.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLIENT_ENTRY = join(ROOT, 'packages/client/src/index.ts');

/** The core's size target, min+gzip. */
const CORE_TARGET_BYTES = 6 * 1024;

/** `node:` module specifiers left in a bundle's import statements (a browser cannot load them). */
export function nodeImportsIn(code) {
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'](node:[^"']+)["']/g;
  return [...code.matchAll(pattern)].map((match) => match[1]);
}

async function bundle(name, entry) {
  const result = await build({
    bundle: true,
    write: false,
    // Splitting puts what only `import()` reaches into chunks of their own, as app bundlers do.
    splitting: true,
    outdir: 'out',
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
  const outputs = result.metafile.outputs;
  const entryPath = Object.keys(outputs).find((path) => outputs[path].entryPoint !== undefined);
  if (!entryPath) throw new Error(`esbuild produced no output for ${name}`);
  // Up front: the entry chunk and the chunks it imports statically; the rest loads on demand.
  const upFront = new Set([entryPath]);
  for (const path of upFront) {
    for (const item of outputs[path].imports) {
      if (item.kind === 'import-statement' && !item.external) upFront.add(item.path);
    }
  }
  const text = (path) => result.outputFiles.find((file) => file.path.endsWith(`/${path}`))?.text ?? '';
  const code = [...upFront].map(text).join('\n');
  const externals = [...upFront].flatMap((path) =>
    outputs[path].imports.filter((item) => item.external).map((item) => item.path),
  );
  const inputs = [...upFront].flatMap((path) =>
    Object.entries(outputs[path].inputs).map(([input, { bytesInOutput }]) => ({
      path: input,
      bytes: bytesInOutput,
    })),
  );
  const lazyChunks = Object.keys(outputs)
    .filter((path) => !upFront.has(path))
    .map((path) => ({
      inputs: Object.keys(outputs[path].inputs).map((input) => input.replace(/^.*?packages\//, '')),
      minBytes: Buffer.byteLength(text(path)),
      gzipBytes: gzipSync(text(path), { level: 9 }).length,
    }));
  const allCode = result.outputFiles.map((file) => file.text).join('\n');
  return {
    name,
    code,
    inputs: inputs.sort((left, right) => right.bytes - left.bytes),
    minBytes: Buffer.byteLength(code),
    gzipBytes: gzipSync(code, { level: 9 }).length,
    lazyChunks,
    externals: [...new Set(externals)],
    nodeImports: [
      ...new Set([
        ...nodeImportsIn(allCode),
        ...Object.values(outputs)
          .flatMap((out) => out.imports.map((item) => item.path))
          .filter((path) => path.startsWith('node:')),
      ]),
    ],
  };
}

/**
 * Bundles the core (`createClient`, tree-shaken, lazy chunks apart), everything `@spool/client`
 * exports, and the part of eventsource-parser the client imports.
 */
export async function measureClientSize() {
  const core = await bundle('core', {
    stdin: {
      contents: `export { createClient } from ${JSON.stringify(CLIENT_ENTRY)};`,
      resolveDir: ROOT,
      loader: 'ts',
    },
  });
  const allExports = await bundle('all exports', { entryPoints: [CLIENT_ENTRY] });
  const parser = await bundle('eventsource-parser', {
    stdin: { contents: "export { createParser } from 'eventsource-parser';", resolveDir: ROOT },
    external: [],
  });
  return { core, allExports, parser, targetBytes: CORE_TARGET_BYTES };
}

function kib(bytes) {
  return `${(bytes / 1024).toFixed(2)} KiB`;
}

/** The measurement as a Markdown table. */
export function formatSizeTable({ core, allExports, parser, targetBytes }) {
  const verdict = core.gzipBytes <= targetBytes ? 'within' : 'over';
  const rows = [
    ['bundle', 'min', 'min+gzip', 'target (min+gzip)'],
    ['---', '---:', '---:', '---'],
    [
      '@spool/client core (`createClient`, loaded up front, eventsource-parser external)',
      kib(core.minBytes),
      kib(core.gzipBytes),
      `${kib(targetBytes)}: ${verdict} by ${kib(Math.abs(targetBytes - core.gzipBytes))}`,
    ],
    ...core.lazyChunks.map((chunk) => [
      `loaded on demand: ${chunk.inputs.map((input) => input.replace(/^client\/src\//, '')).join(', ')}`,
      kib(chunk.minBytes),
      kib(chunk.gzipBytes),
      '',
    ]),
    ['all exports (up front)', kib(allExports.minBytes), kib(allExports.gzipBytes), ''],
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

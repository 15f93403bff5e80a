import { describe, expect, it } from 'vitest';
import { formatSizeTable, measureClientSize, nodeImportsIn } from './measure.mjs';

// Not a size gate (bench/ reports sizes; run.mjs prints the same table): this checks that the
// browser bundle builds and stays free of Node built-ins.
describe('client bundle size (bench/client-size)', () => {
  it('bundles the client core for the browser, without a node: import, and logs its size', async () => {
    const size = await measureClientSize();
    console.log(`@spool/client browser bundle size\n${formatSizeTable(size)}`);
    for (const bundle of [size.core, size.allExports, size.parser]) {
      expect(bundle.minBytes, bundle.name).toBeGreaterThan(0);
      expect(bundle.nodeImports, bundle.name).toEqual([]);
    }
    expect(size.core.externals).toEqual(['eventsource-parser']);
    expect(size.core.code).toContain('eventsource-parser');
    expect(size.core.gzipBytes).toBeLessThan(size.core.minBytes);
    // Tree-shaking and the lazy chunks work: createClient alone is well under the whole package,
    // which also holds resumableFetch, connectEventStream's XHR transport, the error bodies …
    expect(size.core.minBytes).toBeLessThan(size.allExports.minBytes * 0.8);
  });

  it('spots node: imports in any form', () => {
    expect(
      nodeImportsIn(
        'import{a}from"node:crypto";import "node:fs";const b=await import("node:path");require("node:os")',
      ),
    ).toEqual(['node:crypto', 'node:fs', 'node:path', 'node:os']);
    expect(nodeImportsIn('import{createParser as e}from"eventsource-parser";const n="node: x"')).toEqual([]);
  });
});

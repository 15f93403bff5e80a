import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { findImportCycles, isAllowed, repositoryImportGraph } from './import-cycles.mjs';

const graphOf = (edges) => new Map(Object.entries(edges));

describe('findImportCycles', () => {
  test('finds nothing in a graph without cycles, however the imports fan in', () => {
    expect(findImportCycles(graphOf({ a: ['b', 'c'], b: ['c'], c: [] }))).toEqual([]);
  });

  test('reports a two-file cycle once, with the path that closes it', () => {
    expect(findImportCycles(graphOf({ a: ['b'], b: ['a'], c: ['a'] }))).toEqual([
      { files: ['a', 'b'], cycle: ['a', 'b', 'a'] },
    ]);
  });

  test('reports a module importing itself', () => {
    expect(findImportCycles(graphOf({ a: ['a'] }))).toEqual([{ files: ['a'], cycle: ['a', 'a'] }]);
  });

  test('gives the shortest cycle through a larger component, and separate components apart', () => {
    const cycles = findImportCycles(
      graphOf({ a: ['b'], b: ['c', 'a'], c: ['a'], x: ['y'], y: ['z'], z: ['x'] }),
    );
    expect(cycles).toEqual([
      { files: ['a', 'b', 'c'], cycle: ['a', 'b', 'a'] },
      { files: ['x', 'y', 'z'], cycle: ['x', 'y', 'z', 'x'] },
    ]);
  });

  test('survives an import chain far deeper than the call stack', () => {
    const edges = {};
    for (let i = 0; i < 20_000; i += 1) edges[`m${i}`] = [`m${i + 1}`];
    edges.m20000 = ['m0'];
    const [cycle] = findImportCycles(graphOf(edges));
    expect(cycle?.files).toHaveLength(20_001);
  });
});

describe('isAllowed', () => {
  test('allows only the exact set of files, not a larger cycle that contains it', () => {
    const allowed = [{ files: ['a', 'b'] }];
    expect(isAllowed(['b', 'a'], allowed)).toBe(true);
    expect(isAllowed(['a', 'b', 'c'], allowed)).toBe(false);
    expect(isAllowed(['a'], allowed)).toBe(false);
  });
});

describe('repositoryImportGraph', () => {
  test('resolves type-only imports and imports of other workspace packages to their source', () => {
    const root = resolve(fileURLToPath(import.meta.url), '../..');
    const graph = repositoryImportGraph(root);
    expect(graph.get('packages/react/src/chat-types.ts')).toContain('packages/protocol/src/index.ts');
    expect(graph.get('packages/gateway/src/spool/memory-store.ts')).toContain(
      'packages/gateway/src/spool/memory-reader.ts',
    );
  });
});

#!/usr/bin/env node
// Fails when any module of the repository imports itself through a chain of static imports (type-only
// imports included: a type cycle is still two files that cannot be read, moved or split apart).
// Resolution is TypeScript's own (tsconfig.json, with the `@spool/source` condition, so an import of
// `@spool/client` resolves to its src/ and cycles between packages count too). Dynamic `import()` is
// left out on purpose: it is how code is loaded lazily and breaks the evaluation order a cycle spoils.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Cycles the check tolerates for now, each as the exact set of files of one strongly connected
 * component. Every entry names where the type that closes it should move.
 */
export const ALLOWED_CYCLES = [];

/**
 * The strongly connected components of more than one module (or a module importing itself), each with
 * one concrete cycle through it, in a stable order.
 * @param {Map<string, string[]>} graph module → the modules it imports
 * @returns {{ files: string[], cycle: string[] }[]}
 */
export function findImportCycles(graph) {
  const index = new Map();
  const lowLink = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  let nextIndex = 0;
  const nodes = [...graph.keys()].sort();
  // Tarjan's algorithm, iterative so a deep import chain cannot overflow the call stack.
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work = [{ node: root, edge: 0 }];
    index.set(root, nextIndex);
    lowLink.set(root, nextIndex);
    nextIndex += 1;
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const targets = graph.get(frame.node) ?? [];
      if (frame.edge < targets.length) {
        const target = targets[frame.edge];
        frame.edge += 1;
        if (!index.has(target)) {
          index.set(target, nextIndex);
          lowLink.set(target, nextIndex);
          nextIndex += 1;
          stack.push(target);
          onStack.add(target);
          work.push({ node: target, edge: 0 });
        } else if (onStack.has(target)) {
          lowLink.set(frame.node, Math.min(lowLink.get(frame.node), index.get(target)));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) lowLink.set(parent.node, Math.min(lowLink.get(parent.node), lowLink.get(frame.node)));
      if (lowLink.get(frame.node) !== index.get(frame.node)) continue;
      const members = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        members.push(member);
      } while (member !== frame.node);
      const selfImport = (graph.get(frame.node) ?? []).includes(frame.node);
      if (members.length > 1 || selfImport) components.push(members.sort());
    }
  }
  return components
    .map((files) => ({ files, cycle: shortestCycle(graph, files) }))
    .sort((a, b) => a.files[0].localeCompare(b.files[0]));
}

/** The shortest cycle from the component's first file back to itself (breadth-first inside it). */
function shortestCycle(graph, files) {
  const inside = new Set(files);
  const start = files[0];
  const previous = new Map();
  const queue = [start];
  for (let head = 0; head < queue.length; head += 1) {
    const node = queue[head];
    for (const target of graph.get(node) ?? []) {
      if (!inside.has(target)) continue;
      if (target === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0]));
        return [...path, start];
      }
      if (previous.has(target)) continue;
      previous.set(target, node);
      queue.push(target);
    }
  }
  return [start, start];
}

/** Whether a component is exactly one of the allowed sets of files. */
export function isAllowed(files, allowed = ALLOWED_CYCLES) {
  return allowed.some(
    (entry) => entry.files.length === files.length && entry.files.every((file) => files.includes(file)),
  );
}

/** The repository's import graph: every file tsconfig.json includes → the repository files it imports. */
export function repositoryImportGraph(root) {
  const configPath = resolve(root, 'tsconfig.json');
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root, undefined, configPath);
  const files = new Set(parsed.fileNames.map((file) => resolve(file)));
  const cache = ts.createModuleResolutionCache(root, (name) => name, parsed.options);
  const graph = new Map();
  for (const file of [...files].sort()) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
    const targets = new Set();
    for (const specifier of staticImports(source)) {
      const resolved = ts.resolveModuleName(specifier, file, parsed.options, ts.sys, cache).resolvedModule;
      const target = resolved && resolve(resolved.resolvedFileName);
      if (target && files.has(target)) targets.add(relative(root, target));
    }
    graph.set(relative(root, file), [...targets].sort());
  }
  return graph;
}

/** The module specifiers of a file's top-level import and export-from statements. */
function staticImports(source) {
  const specifiers = [];
  for (const statement of source.statements) {
    if (
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier &&
      ts.isStringLiteral(statement.moduleSpecifier)
    ) {
      specifiers.push(statement.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(statement) &&
      ts.isExternalModuleReference(statement.moduleReference) &&
      ts.isStringLiteral(statement.moduleReference.expression)
    ) {
      specifiers.push(statement.moduleReference.expression.text);
    }
  }
  return specifiers;
}

function main() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const graph = repositoryImportGraph(root);
  const cycles = findImportCycles(graph);
  const forbidden = cycles.filter((cycle) => !isAllowed(cycle.files));
  for (const cycle of cycles) {
    const label = isAllowed(cycle.files) ? 'allowed for now' : 'import cycle';
    console.error(`${label}: ${cycle.cycle.join(' → ')}`);
  }
  const stale = ALLOWED_CYCLES.filter((entry) => !cycles.some((cycle) => isAllowed(cycle.files, [entry])));
  for (const entry of stale)
    console.error(`allowed cycle no longer exists, remove it: ${entry.files.join(', ')}`);
  if (forbidden.length > 0 || stale.length > 0) process.exit(1);
  console.log(
    `import cycles: none among ${graph.size} modules${cycles.length ? ' (besides the allowed)' : ''}`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

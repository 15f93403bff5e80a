#!/usr/bin/env node
/**
 * Growth per stream between two heap snapshots, grouped by what each object is *and what holds it*:
 * closures and async frames by function name and source position (script id:line:column), a
 * context by the closure that owns it, a string by the first non-string object holding it (a
 * rope's parts and a slice's parent count for whoever keeps the rope or slice). Where
 * heap-summary.mjs says "36 closures per stream", this says whose.
 *
 * Usage: node bench/memory/heap-retainers.mjs <after.heapsnapshot> --before <before.heapsnapshot>
 *          [--per 4000] [--depth 1] [--top 60]
 * (keep the snapshots of a run with `bench/memory/run.mjs --heap-snapshot --keep-snapshots`).
 * The first retainer found is not always the one that matters; raise `--depth` to see the chain.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    before: { type: 'string' },
    per: { type: 'string', default: '1' },
    depth: { type: 'string', default: '1' },
    top: { type: 'string', default: '60' },
  },
});
const [afterPath] = positionals;
if (!afterPath) throw new Error('usage: heap-retainers.mjs <after.heapsnapshot> [--before <file>] [--per n]');
const per = Math.max(1, Number(values.per));
const depth = Math.max(0, Number(values.depth));

const STRING_TYPES = new Set(['string', 'concatenated string', 'sliced string']);

/** Bytes and counts per "object <- retainer" key of one snapshot. */
function summarize(path) {
  const snapshot = JSON.parse(readFileSync(path, 'utf8'));
  const { meta } = snapshot.snapshot;
  const nodeStride = meta.node_fields.length;
  const edgeStride = meta.edge_fields.length;
  const TYPE = meta.node_fields.indexOf('type');
  const NAME = meta.node_fields.indexOf('name');
  const SIZE = meta.node_fields.indexOf('self_size');
  const EDGES = meta.node_fields.indexOf('edge_count');
  const EDGE_TYPE = meta.edge_fields.indexOf('type');
  const EDGE_NAME = meta.edge_fields.indexOf('name_or_index');
  const EDGE_TO = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings, locations } = snapshot;
  const count = nodes.length / nodeStride;
  const firstEdge = new Uint32Array(count + 1);
  for (let index = 0, edge = 0; index < count; index++) {
    firstEdge[index] = edge;
    edge += nodes[index * nodeStride + EDGES] * edgeStride;
  }
  firstEdge[count] = edges.length;
  const position = new Map();
  const locationStride = meta.location_fields.length;
  for (let at = 0; at < locations.length; at += locationStride) {
    position.set(
      locations[at] / nodeStride,
      `${locations[at + 1]}:${locations[at + 2] + 1}:${locations[at + 3]}`,
    );
  }
  const type = (index) => nodeTypes[nodes[index * nodeStride + TYPE]];
  const name = (index) => String(strings[nodes[index * nodeStride + NAME]]).slice(0, 50);
  // The first strong retainer of every node, and the closure owning every context.
  const retainer = new Int32Array(count).fill(-1);
  const retainerEdge = new Array(count);
  const contextOwner = new Int32Array(count).fill(-1);
  for (let from = 0; from < count; from++) {
    const fromType = type(from);
    for (let edge = firstEdge[from]; edge < firstEdge[from + 1]; edge += edgeStride) {
      const kind = edgeTypes[edges[edge + EDGE_TYPE]];
      if (kind === 'weak' || kind === 'shortcut') continue;
      const to = edges[edge + EDGE_TO] / nodeStride;
      const label =
        kind === 'element' || kind === 'hidden' ? edges[edge + EDGE_NAME] : strings[edges[edge + EDGE_NAME]];
      if (fromType === 'closure' && label === 'context') contextOwner[to] = from;
      if (retainer[to] === -1 && fromType !== 'synthetic') {
        retainer[to] = from;
        retainerEdge[to] = `${kind}:${label}`;
      }
    }
  }
  const describe = (index) => {
    const nodeType = type(index);
    if (nodeType === 'closure') return `closure:${name(index)}@${position.get(index) ?? '?'}`;
    if (STRING_TYPES.has(nodeType) || nodeType === 'number') return nodeType;
    if (nodeType === 'object' && name(index) === 'system / Context') {
      const owner = contextOwner[index];
      return owner >= 0 ? `Context<${describe(owner)}>` : 'Context<?>';
    }
    if (nodeType === 'object' && name(index) === 'Generator') {
      for (let edge = firstEdge[index]; edge < firstEdge[index + 1]; edge += edgeStride) {
        if (strings[edges[edge + EDGE_NAME]] === 'function')
          return `Generator<${describe(edges[edge + EDGE_TO] / nodeStride)}>`;
      }
    }
    return `${nodeType}:${name(index)}`;
  };
  const byKey = new Map();
  let totalBytes = 0;
  for (let index = 0; index < count; index++) {
    const size = nodes[index * nodeStride + SIZE];
    totalBytes += size;
    let key = describe(index);
    let current = index;
    if (STRING_TYPES.has(type(index))) {
      while (retainer[current] >= 0 && STRING_TYPES.has(type(retainer[current]))) current = retainer[current];
    }
    for (let level = 0; level < depth && current >= 0; level++) {
      const holder = retainer[current];
      key += `  <-[${retainerEdge[current] ?? ''}]- ${holder >= 0 ? describe(holder) : '(root)'}`;
      current = holder;
    }
    const entry = byKey.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += size;
    byKey.set(key, entry);
  }
  return { byKey, totalBytes };
}

const after = summarize(afterPath);
const before = values.before ? summarize(values.before) : { byKey: new Map(), totalBytes: 0 };
const rows = [];
for (const [key, entry] of after.byKey) {
  const previous = before.byKey.get(key) ?? { count: 0, bytes: 0 };
  rows.push({
    key,
    count: (entry.count - previous.count) / per,
    bytes: (entry.bytes - previous.bytes) / per,
  });
}
rows.sort((a, b) => b.bytes - a.bytes);
process.stdout.write(
  `heap growth: ${((after.totalBytes - before.totalBytes) / per).toFixed(0)} bytes per stream\n\n`,
);
process.stdout.write('| bytes | objects | object  <-[edge]- retained by |\n|--:|--:|---|\n');
for (const row of rows.slice(0, Number(values.top))) {
  process.stdout.write(
    `| ${row.bytes.toFixed(0)} | ${row.count.toFixed(2)} | ${row.key.replaceAll('|', '\\|')} |\n`,
  );
}

#!/usr/bin/env node
/**
 * Summarizes V8 .heapsnapshot files by constructor: object count and self size, and with two
 * snapshots (before and after opening N streams) the difference per stream. Self size, not
 * retained size: every object is counted once, so the rows add up to the heap's growth.
 *
 * Usage: node bench/memory/heap-summary.mjs <after.heapsnapshot> [--before <before.heapsnapshot>] [--per <n>] [--top 30]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * Count and self size per "type:name" of one snapshot. Strings, code and arrays are grouped by
 * type; objects and closures by constructor or function name.
 * @param {string} path
 * @returns {{ byName: Map<string, { count: number, bytes: number }>, totalBytes: number, nodes: number }}
 */
export function summarizeSnapshot(path) {
  const snapshot = JSON.parse(readFileSync(path, 'utf8'));
  const { meta } = snapshot.snapshot;
  const fields = meta.node_fields;
  const stride = fields.length;
  const typeOffset = fields.indexOf('type');
  const nameOffset = fields.indexOf('name');
  const sizeOffset = fields.indexOf('self_size');
  const typeNames = meta.node_types[0];
  const { nodes, strings } = snapshot;
  const byName = new Map();
  let totalBytes = 0;
  for (let index = 0; index < nodes.length; index += stride) {
    const type = typeNames[nodes[index + typeOffset]];
    const size = nodes[index + sizeOffset];
    totalBytes += size;
    let key;
    if (type === 'object' || type === 'closure' || type === 'native') {
      key = `${type}:${strings[nodes[index + nameOffset]]}`;
    } else if (type === 'hidden' || type === 'array' || type === 'object shape') {
      // "system / Context", "(object elements)", "system / Map" …: the name says what it is.
      key = `${type}:${String(strings[nodes[index + nameOffset]]).slice(0, 60)}`;
    } else {
      key = type;
    }
    const entry = byName.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += size;
    byName.set(key, entry);
  }
  return { byName, totalBytes, nodes: nodes.length / stride };
}

/**
 * Rows of the growth from `before` to `after`, largest first, per `per` streams.
 * @returns {{ key: string, count: number, bytes: number }[]}
 */
export function diffSummaries(after, before, per = 1) {
  const rows = [];
  for (const [key, entry] of after.byName) {
    const previous = before?.byName.get(key) ?? { count: 0, bytes: 0 };
    rows.push({
      key,
      count: (entry.count - previous.count) / per,
      bytes: (entry.bytes - previous.bytes) / per,
    });
  }
  rows.sort((a, b) => b.bytes - a.bytes);
  return rows;
}

/** A markdown table of the top rows. */
export function formatRows(rows, top, per) {
  const unit = per > 1 ? ' per stream' : '';
  const lines = [`| constructor / type | objects${unit} | bytes${unit} |`, '|---|--:|--:|'];
  for (const row of rows.slice(0, top)) {
    lines.push(`| ${row.key.replaceAll('|', '\\|')} | ${row.count.toFixed(2)} | ${row.bytes.toFixed(0)} |`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      before: { type: 'string' },
      per: { type: 'string', default: '1' },
      top: { type: 'string', default: '30' },
    },
  });
  const [afterPath] = positionals;
  if (!afterPath) throw new Error('usage: heap-summary.mjs <after.heapsnapshot> [--before <file>] [--per n]');
  const per = Math.max(1, Number(values.per));
  const after = summarizeSnapshot(afterPath);
  const before = values.before ? summarizeSnapshot(values.before) : undefined;
  const rows = diffSummaries(after, before, per);
  const growth = (after.totalBytes - (before?.totalBytes ?? 0)) / per;
  process.stdout.write(
    `heap ${before ? 'growth' : 'total'}: ${(growth / 1024).toFixed(2)} KB${per > 1 ? ' per stream' : ''}\n\n${formatRows(rows, Number(values.top), per)}\n`,
  );
}

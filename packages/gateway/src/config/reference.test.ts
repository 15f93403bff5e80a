import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from './load-config.js';
import { configReferenceRows, renderConfigReference } from './reference.js';

const README = fileURLToPath(new URL('../../../../README.md', import.meta.url));
const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';

describe('the configuration reference', () => {
  it('documents every key of the schema with a meaning', () => {
    const rows = configReferenceRows();
    expect(rows.length).toBeGreaterThan(40);
    expect(rows.filter((row) => row.description === '').map((row) => row.key)).toEqual([]);
    expect(rows.find((row) => row.key === 'server.port')?.defaultValue).toBe('`8787`');
  });

  it('names records, arrays and union members by their shape, with the default of each leaf', () => {
    const rows = new Map(configReferenceRows().map((row) => [row.key, row]));
    expect(rows.get('providers.<name>(sim).ttftMs')?.defaultValue).toBe('`300`');
    expect(rows.get('models[].targets[].weight')?.defaultValue).toBe('`1`');
    expect(rows.get('models[].match')?.defaultValue).toBe('—');
    expect(rows.get('spool.disconnectGraceMs')?.defaultValue).toBe('`null`');
    expect(rows.get('usage.groupCommitMs')?.defaultValue).toBe('`10`');
    // Containers are walked into, never listed themselves.
    expect(rows.has('providers') || rows.has('models') || rows.has('server')).toBe(false);
  });

  it('accepts the example configuration the README shows', () => {
    const readme = readFileSync(README, 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const config = parseConfig(parseYaml(example as string), 'README example');
    expect(config.models[3]?.targets).toHaveLength(3);
  });

  it('is the table in the README (regenerate with SPOOL_UPDATE_DOCS=1 npx vitest run reference)', () => {
    const readme = readFileSync(README, 'utf8');
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    expect(start).toBeGreaterThan(0);
    const expected = `${START}\n${renderConfigReference()}\n${END}`;
    if (process.env.SPOOL_UPDATE_DOCS === '1') {
      writeFileSync(README, readme.slice(0, start) + expected + readme.slice(end + END.length));
      return;
    }
    expect(readme.slice(start, end + END.length)).toBe(expected);
  });
});

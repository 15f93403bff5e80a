import { configSchema } from './schema.js';

/** One documented configuration key. */
export interface ReferenceRow {
  key: string;
  defaultValue: string;
  description: string;
}

interface SchemaNode {
  description?: string;
  def: {
    type: string;
    innerType?: SchemaNode;
    defaultValue?: unknown;
    shape?: Record<string, SchemaNode>;
    valueType?: SchemaNode;
    element?: SchemaNode;
    options?: SchemaNode[];
    values?: unknown[];
    entries?: Record<string, unknown>;
  };
  shape?: Record<string, SchemaNode>;
}

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable']);

function formatDefault(value: unknown): string {
  if (value === undefined) return '—';
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) return '—';
  return `\`${JSON.stringify(value)}\``;
}

/** Walks the schema: one row per leaf, records as `<name>`, arrays as `[]`, union members by `type`. */
function walk(
  node: SchemaNode,
  key: string,
  rows: ReferenceRow[],
  inherited: { description?: string; defaultValue?: unknown },
): void {
  let current = node;
  let description = node.description ?? inherited.description;
  let defaultValue = inherited.defaultValue;
  while (WRAPPERS.has(current.def.type) && current.def.innerType) {
    if (current.def.type === 'default' && defaultValue === undefined) defaultValue = current.def.defaultValue;
    current = current.def.innerType;
    description ??= current.description;
  }
  const { type } = current.def;
  if (type === 'object' && current.shape) {
    for (const [name, child] of Object.entries(current.shape))
      walk(child, key ? `${key}.${name}` : name, rows, {});
    return;
  }
  const valueType = current.def.valueType?.def.type;
  if (type === 'record' && current.def.valueType && (valueType === 'object' || valueType === 'union')) {
    walk(current.def.valueType, `${key}.<name>`, rows, {});
    return;
  }
  if (type === 'array' && current.def.element && current.def.element.def.type !== 'string') {
    walk(current.def.element, `${key}[]`, rows, {});
    return;
  }
  if (type === 'union' && current.def.options) {
    for (const option of current.def.options) {
      const literal = option.shape?.type?.def.values?.[0];
      const label = typeof literal === 'string' ? `${key}(${literal})` : key;
      if (!option.shape) continue;
      for (const [name, child] of Object.entries(option.shape)) {
        if (name !== 'type') walk(child, `${label}.${name}`, rows, {});
      }
    }
    return;
  }
  rows.push({ key, defaultValue: formatDefault(defaultValue), description: description ?? '' });
}

/** Every configuration key with its default and meaning, straight from the schema. */
export function configReferenceRows(): ReferenceRow[] {
  const rows: ReferenceRow[] = [];
  walk(configSchema as unknown as SchemaNode, '', rows, {});
  return rows;
}

/** The configuration reference as the Markdown table the README carries. */
export function renderConfigReference(): string {
  const lines = ['| key | default | meaning |', '|---|---|---|'];
  for (const row of configReferenceRows()) {
    lines.push(
      `| \`${row.key}\` | ${row.defaultValue.replace(/\|/g, '\\|')} | ${row.description.replace(/\|/g, '\\|')} |`,
    );
  }
  return lines.join('\n');
}

import { z } from 'zod';
import { configSchema } from './schema.js';

/** One documented configuration key. */
export interface ReferenceRow {
  key: string;
  defaultValue: string;
  description: string;
}

/** The parts of a JSON Schema (as `z.toJSONSchema` writes it) the reference reads. */
interface JsonSchemaNode {
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchemaNode>;
  additionalProperties?: JsonSchemaNode | boolean;
  items?: JsonSchemaNode;
  type?: string | string[];
  const?: unknown;
  oneOf?: JsonSchemaNode[];
  anyOf?: JsonSchemaNode[];
}

function formatDefault(value: unknown): string {
  if (value === undefined) return '—';
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) return '—';
  return `\`${JSON.stringify(value)}\``;
}

/**
 * Walks the JSON Schema: one row per leaf, records of objects as `<name>`, arrays of objects as `[]`,
 * members of a union of objects by their `type` (a union of scalars, such as a nullable number, is a leaf).
 */
function walk(node: JsonSchemaNode, key: string, rows: ReferenceRow[]): void {
  if (node.properties) {
    for (const [name, child] of Object.entries(node.properties))
      walk(child, key ? `${key}.${name}` : name, rows);
    return;
  }
  const values = node.additionalProperties;
  if (typeof values === 'object' && (values.properties || objectMembers(values).length > 0)) {
    walk(values, `${key}.<name>`, rows);
    return;
  }
  if (node.items && node.items.type !== 'string') {
    walk(node.items, `${key}[]`, rows);
    return;
  }
  const members = objectMembers(node);
  if (members.length > 0) {
    for (const member of members) {
      const literal = member.properties?.type?.const;
      const label = typeof literal === 'string' ? `${key}(${literal})` : key;
      for (const [name, child] of Object.entries(member.properties ?? {})) {
        if (name !== 'type') walk(child, `${label}.${name}`, rows);
      }
    }
    return;
  }
  rows.push({ key, defaultValue: formatDefault(node.default), description: node.description ?? '' });
}

/** The members of a union that are objects (those the reference lists key by key). */
function objectMembers(node: JsonSchemaNode): JsonSchemaNode[] {
  return (node.oneOf ?? node.anyOf ?? []).filter((member) => member.properties !== undefined);
}

/** Every configuration key with its default and meaning, straight from the schema. */
export function configReferenceRows(): ReferenceRow[] {
  const rows: ReferenceRow[] = [];
  // The input side: defaults are what a key may be left out for; refinements cannot be represented.
  walk(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode, '', rows);
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

import { seededRandom } from '@spool/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonPieces, SimSchemaError, simValueForSchema } from './sim-json-value.js';

type Schema = Record<string, unknown>;

/**
 * A validator for the subset the generator supports, written apart from it (from the JSON Schema
 * rules, not from the generator's code), so a generated value is checked by a second reading.
 * Returns the first violation found, or undefined.
 */
function violation(value: unknown, schema: unknown, root: unknown = schema, path = '$'): string | undefined {
  if (schema === true || schema === undefined) return undefined;
  const node = schema as Schema;
  if (typeof node.$ref === 'string') {
    const target =
      node.$ref === '#'
        ? root
        : (node.$ref.slice(2).split('/') as string[]).reduce<unknown>(
            (at, key) => (at as Record<string, unknown>)[key],
            root,
          );
    return violation(value, target, root, path);
  }
  if ('const' in node && JSON.stringify(value) !== JSON.stringify(node.const))
    return `${path}: not the const`;
  if (
    Array.isArray(node.enum) &&
    !node.enum.some((option) => JSON.stringify(option) === JSON.stringify(value))
  ) {
    return `${path}: not in enum`;
  }
  if (
    Array.isArray(node.anyOf) &&
    !node.anyOf.some((option) => violation(value, option, root, path) === undefined)
  ) {
    return `${path}: matches no anyOf option`;
  }
  if (Array.isArray(node.oneOf)) {
    const matching = node.oneOf.filter((option) => violation(value, option, root, path) === undefined).length;
    if (matching !== 1) return `${path}: matches ${matching} oneOf options`;
  }
  if (node.type !== undefined) {
    const types = Array.isArray(node.type) ? node.type : [node.type];
    if (!types.some((type) => hasType(value, type as string)))
      return `${path}: not of type ${types.join('|')}`;
  }
  if (typeof value === 'string') {
    if (typeof node.minLength === 'number' && value.length < node.minLength)
      return `${path}: shorter than minLength`;
    if (typeof node.maxLength === 'number' && value.length > node.maxLength)
      return `${path}: longer than maxLength`;
    const formats: Record<string, RegExp> = {
      'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
      date: /^\d{4}-\d{2}-\d{2}$/,
      email: /^[^@\s]+@[^@\s]+\.[a-z]+$/,
      uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      uri: /^https?:\/\/\S+$/,
      ipv4: /^(\d{1,3}\.){3}\d{1,3}$/,
    };
    const format = formats[node.format as string];
    // Lengths may cut a formatted string; only a whole-length value must match its format.
    if (format && node.maxLength === undefined && node.minLength === undefined && !format.test(value)) {
      return `${path}: not a ${node.format}`;
    }
  }
  if (typeof value === 'number') {
    if (typeof node.minimum === 'number' && value < node.minimum) return `${path}: below minimum`;
    if (typeof node.maximum === 'number' && value > node.maximum) return `${path}: above maximum`;
    if (typeof node.exclusiveMinimum === 'number' && value <= node.exclusiveMinimum)
      return `${path}: not above exclusiveMinimum`;
    if (typeof node.exclusiveMaximum === 'number' && value >= node.exclusiveMaximum)
      return `${path}: not below exclusiveMaximum`;
    if (typeof node.multipleOf === 'number') {
      const ratio = value / node.multipleOf;
      if (Math.abs(ratio - Math.round(ratio)) > 1e-6) return `${path}: not a multiple of ${node.multipleOf}`;
    }
  }
  if (Array.isArray(value)) {
    if (typeof node.minItems === 'number' && value.length < node.minItems)
      return `${path}: fewer than minItems`;
    if (typeof node.maxItems === 'number' && value.length > node.maxItems)
      return `${path}: more than maxItems`;
    for (const [index, item] of value.entries()) {
      const problem = violation(item, node.items, root, `${path}[${index}]`);
      if (problem) return problem;
    }
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    for (const name of (node.required as string[] | undefined) ?? []) {
      if (!Object.hasOwn(record, name)) return `${path}: missing required ${name}`;
    }
    const properties = (node.properties ?? {}) as Record<string, unknown>;
    for (const [name, propertyValue] of Object.entries(record)) {
      if (Object.hasOwn(properties, name)) {
        const problem = violation(propertyValue, properties[name], root, `${path}.${name}`);
        if (problem) return problem;
      } else if (node.additionalProperties === false) return `${path}: unexpected property ${name}`;
    }
  }
  return undefined;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
      return typeof value === 'string';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return false;
  }
}

const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,7}$/);

/** Satisfiable scalar schemas: bounds drawn so that at least one value fits. */
const integerSchema = fc
  .record(
    {
      low: fc.integer({ min: -1000, max: 1000 }),
      width: fc.integer({ min: 0, max: 500 }),
      step: fc.integer({ min: 1, max: 7 }),
    },
    { requiredKeys: ['low', 'width'] },
  )
  .map(({ low, width, step }) => {
    const schema: Schema = { type: 'integer', minimum: low, maximum: low + width + (step ?? 1) * 2 };
    if (step !== undefined) schema.multipleOf = step;
    return schema;
  });
const numberSchema = fc
  .record({
    low: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    width: fc.double({ min: 0.05, max: 1e4, noNaN: true }),
    exclusive: fc.boolean(),
  })
  .map(
    ({ low, width, exclusive }): Schema =>
      exclusive
        ? { type: 'number', exclusiveMinimum: low, exclusiveMaximum: low + width }
        : { type: 'number', minimum: low, maximum: low + width },
  );
const stringSchema = fc.oneof(
  fc.record({ min: fc.integer({ min: 0, max: 40 }), extra: fc.integer({ min: 0, max: 40 }) }).map(
    ({ min, extra }): Schema => ({
      type: 'string',
      minLength: min,
      maxLength: min + extra,
    }),
  ),
  fc
    .constantFrom('date-time', 'date', 'email', 'uuid', 'uri', 'ipv4')
    .map((format): Schema => ({ type: 'string', format })),
  fc
    .uniqueArray(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 5 })
    .map((options): Schema => ({ type: 'string', enum: options })),
  fc.constant<Schema>({ type: 'string' }),
);
const scalarSchema = fc.oneof(
  integerSchema,
  numberSchema,
  stringSchema,
  fc.constant<Schema>({ type: 'boolean' }),
  fc.constant<Schema>({ type: 'null' }),
  fc.jsonValue({ maxDepth: 2 }).map((value): Schema => ({ const: value })),
);

/** Random schemas within the supported subset: nested objects, arrays, anyOf, nullable types. */
const schemaArbitrary: fc.Arbitrary<Schema> = fc.letrec<{ schema: Schema }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarSchema,
    fc
      .record({
        properties: fc.dictionary(name, tie('schema'), { maxKeys: 5 }),
        requireAll: fc.boolean(),
        closed: fc.boolean(),
      })
      .map(
        ({ properties, requireAll, closed }): Schema => ({
          type: 'object',
          properties,
          required: Object.keys(properties).filter((_, index) => requireAll || index % 2 === 0),
          ...(closed ? { additionalProperties: false } : {}),
        }),
      ),
    fc
      .record({
        items: tie('schema'),
        min: fc.integer({ min: 0, max: 3 }),
        extra: fc.integer({ min: 0, max: 4 }),
      })
      .map(
        ({ items, min, extra }): Schema => ({ type: 'array', items, minItems: min, maxItems: min + extra }),
      ),
    fc.array(tie('schema'), { minLength: 1, maxLength: 3 }).map((anyOf): Schema => ({ anyOf })),
    tie('schema').map(
      (inner): Schema => (typeof inner.type === 'string' ? { ...inner, type: [inner.type, 'null'] } : inner),
    ),
  ),
})).schema;

describe('simValueForSchema', () => {
  it('generates a value that validates, for random schemas of the supported subset', () => {
    fc.assert(
      fc.property(schemaArbitrary, fc.integer(), (schema, seed) => {
        // What a client gets is the JSON text the sim sends: that is what must validate.
        const sent = JSON.parse(JSON.stringify(simValueForSchema(schema, seededRandom(seed))));
        expect(violation(sent, schema)).toBeUndefined();
      }),
      { numRuns: 400 },
    );
  });

  it('is the same for the same seed', () => {
    fc.assert(
      fc.property(schemaArbitrary, fc.integer(), (schema, seed) => {
        expect(simValueForSchema(schema, seededRandom(seed))).toEqual(
          simValueForSchema(schema, seededRandom(seed)),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('follows local $ref, bounds a recursive schema, and takes a oneOf of distinct types', () => {
    const tree = {
      $defs: {
        node: {
          type: 'object',
          properties: {
            label: { type: 'string' },
            children: { type: 'array', items: { $ref: '#/$defs/node' } },
          },
          required: ['label', 'children'],
          additionalProperties: false,
        },
      },
      $ref: '#/$defs/node',
    };
    const oneOf = { oneOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] };
    for (let seed = 0; seed < 50; seed++) {
      expect(violation(simValueForSchema(tree, seededRandom(seed)), tree)).toBeUndefined();
      expect(violation(simValueForSchema(oneOf, seededRandom(seed)), oneOf)).toBeUndefined();
    }
  });

  it.each([
    [{ type: 'integer', minimum: 5, maximum: 4 }, /bounds admit no value/],
    [{ type: 'array', minItems: 3, maxItems: 2 }, /minItems/],
    [{ enum: [] }, /enum/],
    [{ $ref: 'https://example.com/schema' }, /local \$ref/],
    [{ $ref: '#/$defs/missing' }, /does not resolve/],
    [{ $ref: '#' }, /deeper than/],
    [
      {
        type: 'array',
        minItems: 100,
        items: { type: 'array', minItems: 100, items: { type: 'array', minItems: 100 } },
      },
      /more than 10000 JSON values/,
    ],
    [{ type: 'string', minLength: 1e9 }, /minLength/],
    [{ type: 'frobnicate' }, /unknown type/],
  ])('refuses %j with a reason', (schema, reason) => {
    expect(() => simValueForSchema(schema, seededRandom(1))).toThrow(SimSchemaError);
    expect(() => simValueForSchema(schema, seededRandom(1))).toThrow(reason);
  });

  it('answers any JSON value given as a schema with a value or a SimSchemaError, nothing else', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (schema) => {
        try {
          simValueForSchema(schema, seededRandom(7));
        } catch (error) {
          expect(error).toBeInstanceOf(SimSchemaError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('jsonPieces', () => {
  it('cuts JSON text into pieces that join back to it, splitting words from punctuation', () => {
    expect(jsonPieces('{"city":"Paris","days":3}')).toEqual([
      '{"',
      'city',
      '":"',
      'Paris',
      '","',
      'days',
      '":',
      '3',
      '}',
    ]);
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        expect(jsonPieces(text).join('')).toBe(text);
      }),
    );
  });
});

/**
 * A deterministic value for a JSON schema, for the sim's tool-call arguments and structured outputs.
 *
 * The supported subset (what OpenAI's structured outputs accept, and a little more): `type` (one or a
 * list), `enum`, `const`, `anyOf`/`oneOf` (one option is generated), `$ref` to `#`, `#/$defs/…` or
 * `#/definitions/…`; objects (`properties`, `required`), arrays (`items`, `minItems`, `maxItems`),
 * strings (`minLength`, `maxLength`, `format`: date-time, date, time, email, uri, uuid, ipv4,
 * hostname), numbers and integers (`minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
 * `multipleOf`), booleans and null. `pattern`, `allOf`, `not`, `uniqueItems` and conditionals are
 * not honoured. Generation is bounded: past `SOFT_DEPTH` only what is required is generated, past
 * `MAX_DEPTH` or `MAX_VALUES` values the schema is refused.
 */

/** Raised when a schema cannot be satisfied by the sim within its bounds; the message says why. */
export class SimSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimSchemaError';
  }
}

/** Beyond this nesting only required properties, minimal arrays and `null` options are generated. */
const SOFT_DEPTH = 4;
/** Nesting (with `$ref` hops) past which a schema is refused as unbounded. */
const MAX_DEPTH = 32;
/** The most values (every node counts) one generated document may hold. */
const MAX_VALUES = 10_000;
/** The longest string the sim writes for a `minLength`. */
const MAX_STRING_LENGTH = 10_000;

const WORDS = [
  'amber',
  'river',
  'stream',
  'token',
  'gateway',
  'signal',
  'harbor',
  'meadow',
  'copper',
  'lantern',
  'orbit',
  'spool',
];

type Schema = Record<string, unknown>;

interface State {
  readonly root: unknown;
  readonly random: () => number;
  readonly budget: SimValueBudget;
}

/**
 * Generates a value satisfying `schema` (within the subset above), the same for the same `random`
 * sequence. Throws `SimSchemaError` for a schema that is malformed, unsatisfiable or unbounded.
 */
export function simValueForSchema(
  schema: unknown,
  random: () => number,
  budget: SimValueBudget = { values: 0 },
): unknown {
  const state: State = { root: schema, random, budget };
  return generate(schema, state, 0);
}

/**
 * How many values have been generated so far; one budget shared by several documents (the tool
 * calls of all `n` choices) bounds them together by `MAX_VALUES`.
 */
export interface SimValueBudget {
  values: number;
}

function generate(schema: unknown, state: State, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new SimSchemaError(`the schema nests deeper than ${MAX_DEPTH} levels`);
  if (++state.budget.values > MAX_VALUES) {
    throw new SimSchemaError(`the answer would hold more than ${MAX_VALUES} JSON values`);
  }
  if (schema === true || schema === undefined) return pickWord(state.random);
  if (schema === false) throw new SimSchemaError('a `false` schema accepts no value');
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new SimSchemaError('a schema must be an object');
  }
  const node = schema as Schema;
  if (typeof node.$ref === 'string') return generate(resolveRef(node.$ref, state.root), state, depth + 1);
  if ('const' in node) return structuredClone(node.const);
  if (node.enum !== undefined) {
    if (!Array.isArray(node.enum) || node.enum.length === 0) {
      throw new SimSchemaError('`enum` must be a non-empty array');
    }
    return structuredClone(pick(node.enum, state.random));
  }
  const options = node.anyOf ?? node.oneOf;
  if (options !== undefined) {
    if (!Array.isArray(options) || options.length === 0) {
      throw new SimSchemaError('`anyOf`/`oneOf` must be a non-empty array');
    }
    // Deep down, prefer an option that ends the recursion (null or a scalar) over a random one.
    const terminal = options.find((option) => isTerminal(option));
    const chosen = depth >= SOFT_DEPTH && terminal !== undefined ? terminal : pick(options, state.random);
    return generate(chosen, state, depth + 1);
  }
  switch (chooseType(node, state.random, depth)) {
    case 'null':
      return null;
    case 'boolean':
      return state.random() < 0.5;
    case 'integer':
      return numberFor(node, true, state.random);
    case 'number':
      return numberFor(node, false, state.random);
    case 'string':
      return stringFor(node, state.random);
    case 'array':
      return arrayFor(node, state, depth);
    case 'object':
      return objectFor(node, state, depth);
    default:
      throw new SimSchemaError(`unknown type ${JSON.stringify(node.type)}`);
  }
}

function chooseType(node: Schema, random: () => number, depth: number): unknown {
  const type = node.type;
  if (Array.isArray(type)) {
    if (type.length === 0) throw new SimSchemaError('`type` must not be an empty list');
    if (depth >= SOFT_DEPTH && type.includes('null')) return 'null';
    return pick(type, random);
  }
  if (type !== undefined) return type;
  if (node.properties !== undefined || node.required !== undefined) return 'object';
  if (node.items !== undefined || node.minItems !== undefined) return 'array';
  if (node.minimum !== undefined || node.maximum !== undefined) return 'number';
  return 'string';
}

function isTerminal(option: unknown): boolean {
  if (typeof option !== 'object' || option === null) return false;
  const type = (option as Schema).type;
  return typeof type === 'string' && type !== 'object' && type !== 'array';
}

function resolveRef(ref: string, root: unknown): unknown {
  if (ref !== '#' && !ref.startsWith('#/'))
    throw new SimSchemaError(`only local $ref are supported, got ${ref}`);
  let target: unknown = root;
  for (const raw of ref === '#' ? [] : ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof target !== 'object' || target === null || !Object.hasOwn(target, key)) {
      throw new SimSchemaError(`$ref ${ref} does not resolve`);
    }
    target = (target as Record<string, unknown>)[key];
  }
  return target;
}

function objectFor(node: Schema, state: State, depth: number): Record<string, unknown> {
  const properties = (node.properties ?? {}) as Record<string, unknown>;
  if (typeof properties !== 'object' || Array.isArray(properties)) {
    throw new SimSchemaError('`properties` must be an object');
  }
  const required = node.required ?? [];
  if (!Array.isArray(required) || !required.every((name) => typeof name === 'string')) {
    throw new SimSchemaError('`required` must be an array of property names');
  }
  const result: Record<string, unknown> = {};
  for (const [name, propertySchema] of Object.entries(properties)) {
    // Optional properties appear near the top (about half of them), never deep down.
    const include = required.includes(name) || (depth < SOFT_DEPTH && state.random() < 0.5);
    if (include) result[name] = generate(propertySchema, state, depth + 1);
  }
  for (const name of required) {
    if (!Object.hasOwn(result, name)) result[name] = generate(properties[name], state, depth + 1);
  }
  return result;
}

function arrayFor(node: Schema, state: State, depth: number): unknown[] {
  const min = nonNegativeInteger(node.minItems, 'minItems') ?? 0;
  const max = nonNegativeInteger(node.maxItems, 'maxItems') ?? min + 3;
  if (min > max) throw new SimSchemaError('`minItems` exceeds `maxItems`');
  const upper = depth >= SOFT_DEPTH ? min : Math.min(max, min + 3);
  const count = min + Math.floor(state.random() * (upper - min + 1));
  const items = Array.isArray(node.items) ? undefined : node.items;
  return Array.from({ length: count }, () => generate(items, state, depth + 1));
}

function stringFor(node: Schema, random: () => number): string {
  const minLength = nonNegativeInteger(node.minLength, 'minLength') ?? 0;
  const maxLength = nonNegativeInteger(node.maxLength, 'maxLength') ?? Number.POSITIVE_INFINITY;
  if (minLength > maxLength) throw new SimSchemaError('`minLength` exceeds `maxLength`');
  if (minLength > MAX_STRING_LENGTH) throw new SimSchemaError(`\`minLength\` above ${MAX_STRING_LENGTH}`);
  let text = formatted(node.format, random) ?? `${pickWord(random)} ${pickWord(random)}`;
  while (text.length < minLength) text += ` ${pickWord(random)}`;
  // Lengths count code points (JSON Schema); the sim writes ASCII only, so characters are code points.
  return text.slice(0, Math.max(minLength, Math.min(maxLength, text.length)));
}

function formatted(format: unknown, random: () => number): string | undefined {
  const digits = (count: number) =>
    Array.from({ length: count }, () => Math.floor(random() * 16).toString(16)).join('');
  const day = new Date(Date.UTC(2026, 0, 1) + Math.floor(random() * 365) * 86_400_000);
  const iso = day.toISOString();
  switch (format) {
    case 'date-time':
      return `${iso.slice(0, 10)}T12:00:00Z`;
    case 'date':
      return iso.slice(0, 10);
    case 'time':
      return '12:00:00Z';
    case 'email':
      return `${pickWord(random)}@example.com`;
    case 'uri':
    case 'url':
      return `https://example.com/${pickWord(random)}`;
    case 'hostname':
      return `${pickWord(random)}.example.com`;
    case 'ipv4':
      return `192.0.2.${1 + Math.floor(random() * 254)}`;
    case 'uuid':
      return `${digits(8)}-${digits(4)}-4${digits(3)}-a${digits(3)}-${digits(12)}`;
    default:
      return undefined;
  }
}

function numberFor(node: Schema, integer: boolean, random: () => number): number {
  const bound = (key: string): number | undefined => {
    const value = node[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new SimSchemaError(`\`${key}\` must be a number`);
    return value;
  };
  const multipleOf = bound('multipleOf');
  const step = multipleOf ?? (integer ? 1 : 0.01);
  if (step <= 0) throw new SimSchemaError('`multipleOf` must be positive');
  const minimum = bound('minimum');
  const maximum = bound('maximum');
  const exclusiveMinimum = bound('exclusiveMinimum');
  const exclusiveMaximum = bound('exclusiveMaximum');
  const fits = (value: number): boolean =>
    (minimum === undefined || value >= minimum) &&
    (maximum === undefined || value <= maximum) &&
    (exclusiveMinimum === undefined || value > exclusiveMinimum) &&
    (exclusiveMaximum === undefined || value < exclusiveMaximum);
  // The range of multiples of `step` inside the bounds (integers are multiples of 1).
  const unit = integer && !Number.isInteger(step) ? lcmWithOne(step) : step;
  let low = Number.NEGATIVE_INFINITY;
  if (minimum !== undefined) low = Math.ceil(minimum / unit);
  if (exclusiveMinimum !== undefined) low = Math.max(low, Math.floor(exclusiveMinimum / unit) + 1);
  let high = Number.POSITIVE_INFINITY;
  if (maximum !== undefined) high = Math.floor(maximum / unit);
  if (exclusiveMaximum !== undefined) high = Math.min(high, Math.ceil(exclusiveMaximum / unit) - 1);
  const span = Math.max(1, Math.round(100 / unit));
  if (low === Number.NEGATIVE_INFINITY && high === Number.POSITIVE_INFINITY) low = 0;
  if (low === Number.NEGATIVE_INFINITY) low = high - span;
  if (high === Number.POSITIVE_INFINITY) high = low + span;
  const multiple = low + Math.floor(random() * Math.min(high - low + 1, span + 1));
  // Division and rounding can land a hair outside a bound: try the neighbours before giving up.
  for (const candidate of [multiple, multiple + 1, multiple - 1, low, high]) {
    const value = roundTo(candidate * unit, unit);
    if (candidate >= low && candidate <= high && fits(value)) return value;
  }
  if (!integer && multipleOf === undefined) {
    // Bounds narrower than the sim's own 0.01 step: any number between them will do.
    const lower = minimum ?? exclusiveMinimum ?? Number.NaN;
    const upper = maximum ?? exclusiveMaximum ?? Number.NaN;
    const middle = lower + (upper - lower) / 2;
    if (fits(middle)) return middle;
  }
  throw new SimSchemaError('the numeric bounds admit no value');
}

/** The smallest multiple of a fractional `multipleOf` that is an integer (bounded), for integer types. */
function lcmWithOne(step: number): number {
  for (let factor = 1; factor <= 1000; factor++) {
    const product = roundTo(step * factor, step);
    if (Number.isInteger(product)) return product;
  }
  throw new SimSchemaError('`multipleOf` has no integer multiple within the sim’s bounds');
}

/** Removes binary noise (0.1 * 3 = 0.30000000000000004) at the step's own precision. */
function roundTo(value: number, step: number): number {
  const decimals = Math.min(15, Math.max(0, -Math.floor(Math.log10(step)) + 2));
  return Number(value.toFixed(decimals));
}

function nonNegativeInteger(value: unknown, key: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new SimSchemaError(`\`${key}\` must be a non-negative integer`);
  }
  return value;
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

function pickWord(random: () => number): string {
  return pick(WORDS, random);
}

/**
 * Cuts JSON text into token-like pieces (runs of word characters, runs of punctuation, spaces), so
 * streamed arguments and JSON answers arrive as a model's would: `{"`, `city`, `":"`, `Paris`, `"}`.
 */
export function jsonPieces(text: string): string[] {
  return text.match(/[A-Za-z0-9_.+-]+|\s+|[^A-Za-z0-9_.+\s-]+/g) ?? [];
}

import { flattenString } from '../relay/flatten-string.js';

const CONTENT_KEY = '"content":"';
const QUOTE = 34;
const BACKSLASH = 92;
/** A string body no upstream sends as a delta's text: what `learn` proves the template with. */
const PROBE_BODY = '\\u0001';
const PROBE_TEXT = '\u0001';

/**
 * The shape of one stream's text chunks, learned from one chunk the chat normalizer parsed and
 * found sound: its bytes before and after the text of `choices[0].delta.content`. A chunk that is
 * those bytes around another JSON string body is the same JSON with another string there, so it
 * passes every check the learned chunk passed (the checks read that field's type, never its text)
 * without a `JSON.parse` of its own. Upstreams send a stream's chunks in one shape (the same id,
 * created and model; only the text changes), and parsing each was most of what normalizing cost
 * (bench/relay: ~50 µs of a sim-fast stream's 56 chunks, on the first token's path).
 */
export class ChatChunkShape {
  /** Through the opening quote of the text. */
  #prefix: string | undefined;
  /** From the closing quote of the text. */
  #suffix = '';
  /** Learning is tried once per stream: a shape that did not take costs one parse, not one per chunk. */
  #tried = false;

  /** Whether `data` is the learned chunk with another valid JSON string as its text. */
  matches(data: string): boolean {
    const prefix = this.#prefix;
    if (prefix === undefined) return false;
    const end = data.length - this.#suffix.length;
    // Compared as slices rather than with startsWith/endsWith: V8 compares those character by
    // character, as slow as the parse they replace (~0.6 µs for a 150-character prefix).
    return (
      end >= prefix.length &&
      data.slice(0, prefix.length) === prefix &&
      data.slice(end) === this.#suffix &&
      isStringBody(data, prefix.length, end)
    );
  }

  /**
   * Learns the shape from `data`, a chunk that passed every check as `parsed`, when its delta has
   * text (a role-only opening chunk has a shape of its own). Tried once per stream.
   */
  learn(data: string, parsed: { choices: readonly unknown[] }): void {
    if (this.#tried) return;
    const text = (parsed.choices[0] as { delta?: { content?: unknown } } | undefined)?.delta?.content;
    if (typeof text !== 'string' || text === '' || text === PROBE_TEXT) return;
    this.#tried = true;
    const at = data.indexOf(CONTENT_KEY);
    if (at === -1) return;
    const start = at + CONTENT_KEY.length;
    const end = stringBodyEnd(data, start);
    if (end === -1) return;
    const prefix = data.slice(0, start);
    const suffix = data.slice(end);
    // The bytes around that string are a template for choices[0].delta.content only if another
    // string put there reads back as that field (and nothing else changed: only the string did).
    let probe: unknown;
    try {
      probe = JSON.parse(prefix + PROBE_BODY + suffix);
    } catch {
      return;
    }
    const probeText = (probe as { choices?: Array<{ delta?: { content?: unknown } }> }).choices?.[0]?.delta
      ?.content;
    if (probeText !== PROBE_TEXT) return;
    this.#prefix = ownCopy(prefix);
    this.#suffix = ownCopy(suffix);
  }
}

/** Whether `data[from, to)` is the body of a JSON string (RFC 8259 §7): no bare quote or control character, valid escapes. */
function isStringBody(data: string, from: number, to: number): boolean {
  for (let at = from; at < to; at++) {
    const code = data.charCodeAt(at);
    if (code === QUOTE || code < 0x20) return false;
    if (code === BACKSLASH) {
      const skip = escapeLength(data, at, to);
      if (skip === 0) return false;
      at += skip - 1;
    }
  }
  return true;
}

/** Where the JSON string whose body starts at `from` closes (its closing quote), or -1. */
function stringBodyEnd(data: string, from: number): number {
  for (let at = from; at < data.length; at++) {
    const code = data.charCodeAt(at);
    if (code === QUOTE) return at;
    if (code < 0x20) return -1;
    if (code === BACKSLASH) {
      const skip = escapeLength(data, at, data.length);
      if (skip === 0) return -1;
      at += skip - 1;
    }
  }
  return -1;
}

/** The length of the escape at `data[at]` (a backslash) within `to`: 2, 6 for `\uXXXX`, 0 when invalid. */
function escapeLength(data: string, at: number, to: number): number {
  if (at + 1 >= to) return 0;
  const next = data[at + 1] as string;
  if ('"\\/bfnrt'.includes(next)) return 2;
  if (next !== 'u' || at + 6 > to) return 0;
  for (let digit = at + 2; digit < at + 6; digit++) if (!isHexDigit(data.charCodeAt(digit))) return 0;
  return 6;
}

function isHexDigit(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 70) || (code >= 97 && code <= 102);
}

/** `text` as a string of its own: a slice would keep the whole upstream read it came from alive. */
function ownCopy(text: string): string {
  const copy = ` ${text}`;
  flattenString(copy);
  return copy.slice(1);
}

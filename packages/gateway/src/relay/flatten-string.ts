/**
 * Flattens a string in place: V8 turns a rope (a concatenation, or a slice of a larger string)
 * into one flat string on the first character access, and the next scavenge drops the parts, so
 * what holds the string no longer keeps every piece and parent it was built from.
 */
export function flattenString(text: string): void {
  text.charCodeAt(0);
}

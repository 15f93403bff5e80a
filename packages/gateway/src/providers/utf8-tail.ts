/**
 * How many bytes at the end of `bytes` begin a UTF-8 sequence that the next chunk completes: 0 when
 * the chunk ends on a character boundary. Invalid bytes are not held back (they decode to U+FFFD
 * wherever they are cut), so what is decoded chunk by chunk equals decoding the whole at once.
 */
export function incompleteUtf8TailLength(bytes: Uint8Array): number {
  const end = bytes.length;
  for (let back = 1; back <= 3 && back <= end; back++) {
    const byte = bytes[end - back] as number;
    // A continuation byte (10xxxxxx): the sequence's first byte is further back.
    if ((byte & 0xc0) === 0x80) continue;
    const length = byte >= 0xf8 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

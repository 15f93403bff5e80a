/**
 * A finished stream's events, packed into one buffer outside the JS heap. A memory spool keeps
 * every finished stream for its retention period; held as one string per event they are dozens of
 * small heap objects per stream that every young-generation GC copies and every full GC marks
 * (bench: scavenges promoted ~2.4 MB each and paused 5–10 ms at 1 stream a time, the relay's p99).
 * Packed, a stream is a few objects whatever its length. Replays of finished streams are rare
 * (a client resuming after the end), so they pay the decoding instead.
 */
export class PackedEvents {
  readonly #bytes: Buffer;
  /** `#ends[i]` is the byte offset just past event `i`. */
  readonly #ends: Uint32Array;

  private constructor(bytes: Buffer, ends: Uint32Array) {
    this.#bytes = bytes;
    this.#ends = ends;
  }

  /** Packs encoded events (each one whole SSE event), in order. */
  static pack(events: readonly string[]): PackedEvents {
    let byteLength = 0;
    for (const event of events) byteLength += Buffer.byteLength(event);
    const bytes = Buffer.allocUnsafeSlow(byteLength);
    const ends = new Uint32Array(events.length);
    let offset = 0;
    events.forEach((event, index) => {
      offset += bytes.write(event, offset);
      ends[index] = offset;
    });
    return new PackedEvents(bytes, ends);
  }

  /** How many events are packed. */
  get count(): number {
    return this.#ends.length;
  }

  /** Bytes held. */
  get byteLength(): number {
    return this.#bytes.length;
  }

  /** The events from index `from` (0-based) to the end, concatenated; '' when none. */
  textFrom(from: number): string {
    if (from >= this.#ends.length) return '';
    const start = from <= 0 ? 0 : (this.#ends[from - 1] as number);
    return this.#bytes.toString('utf8', start, this.#bytes.length);
  }
}

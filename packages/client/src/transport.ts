import type { HeaderReader } from '@spool/protocol';

/** One HTTP request as the engine hands it to a transport. */
export interface TransportRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** Aborting it must reject the pending response or read with the signal's reason. */
  signal: AbortSignal;
  /**
   * The stream's events already delivered (its spool offset, whatever ids its surface shows): a
   * long-poll read goes on after it. @default the `Last-Event-ID` header (chat's ids are offsets)
   */
  deliveredCount?: number | undefined;
  /** The stream's `…/streams/{id}` URL, for a long-poll read of a resume whose own URL is another route. */
  longPollUrl?: string | undefined;
  /** The caller's idle watchdog (ms without a byte; 0 = none): a long-poll read waits well within it. */
  idleTimeoutMs?: number | undefined;
  /**
   * Called by a transport that switched this request to long-poll reads because the network
   * buffers event streams (`transport: 'auto'`); the engine announces it.
   */
  onFallback?:
    | ((fallback: { reason: 'body-buffered' | 'headers-buffered' | 'remembered' }) => void)
    | undefined;
}

/**
 * Receives decoded body text as it arrives.
 * @returns `false` to stop reading (the transport then releases the connection).
 */
export type ChunkHandler = (text: string, byteLength: number) => boolean | undefined;

/** A response whose headers have arrived and whose body can be read incrementally. */
export interface TransportResponse {
  status: number;
  headers: HeaderReader;
  /** Streams the body to `onChunk`; resolves at its end, rejects when the connection fails. */
  read(onChunk: ChunkHandler): Promise<void>;
}

/** Sends one request and resolves once response headers are in. Rejects on network failure. */
export type Transport = (request: TransportRequest) => Promise<TransportResponse>;

/** The number of bytes `text` takes in UTF-8, for transports that only see decoded text. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      // A surrogate pair is one 4-byte code point.
      bytes += 4;
      index++;
    } else bytes += 3;
  }
  return bytes;
}

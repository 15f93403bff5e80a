import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `bytes` cryptographically random bytes as text, taken from a pool refilled 4 KiB at a time (as
 * `crypto.randomUUID` does): a `randomBytes` call per id costs ~3 µs, and every request makes two.
 * Each id gets bytes no other id got.
 */
export function randomToken(bytes: number, encoding: 'hex' | 'base64url'): string {
  if (bytes > POOL_BYTES) throw new RangeError(`randomToken: at most ${POOL_BYTES} bytes`);
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const token = pool.toString(encoding, offset, offset + bytes);
  offset += bytes;
  return token;
}

/** A new, unguessable stream id: 144 random bits, URL-safe. */
export function newStreamId(): string {
  return `str_${randomToken(18, 'base64url')}`;
}

/** A new request id (when the client sent none usable). */
export function newRequestId(): string {
  return `req_${randomToken(12, 'hex')}`;
}

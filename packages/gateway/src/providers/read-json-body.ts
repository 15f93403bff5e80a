import { UpstreamError } from '../errors.js';

/** A response body as undici gives it: its chunks, and a way to stop it. */
export interface ReadableBody extends AsyncIterable<Buffer> {
  destroy(error?: Error): unknown;
}

/**
 * Reads an upstream's JSON answer, holding at most `maxBytes` of it: past that the body is
 * destroyed (its connection closed) and the read fails with `generation_limit_exceeded`, instead
 * of an upstream that never stops filling the gateway's memory.
 */
export async function readJsonBody(body: ReadableBody, maxBytes: number, provider: string): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      throw UpstreamError.ofCode(
        'generation_limit_exceeded',
        `Upstream "${provider}" answered with more than ${maxBytes} bytes (generation.maxBytes); its answer was dropped.`,
        { retryable: false },
      );
    }
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
}

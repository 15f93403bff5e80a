import { describe, expect, it } from 'vitest';
import { defaultStreamUrl, normalizeResumableFetchOptions } from './resumable-fetch.js';

describe('defaultStreamUrl', () => {
  it('maps each surface to /streams/{id} beside it, dropping the query', () => {
    expect(defaultStreamUrl('https://gw.test/v1/chat/completions?api-version=1', 's 1')).toBe(
      'https://gw.test/v1/streams/s%201',
    );
    expect(defaultStreamUrl('https://gw.test/v1/responses', 'r')).toBe('https://gw.test/v1/streams/r');
    expect(defaultStreamUrl('https://gw.test/proxy/v1/messages/', 'm')).toBe(
      'https://gw.test/proxy/v1/streams/m',
    );
  });

  it('knows no resume path for other URLs', () => {
    expect(defaultStreamUrl('https://gw.test/v1/embeddings', 's')).toBeUndefined();
  });
});

describe('normalizeResumableFetchOptions', () => {
  it("defaults to the client's retry policy, a 45 s watchdog and no DELETE on abort", () => {
    const settings = normalizeResumableFetchOptions();
    expect(settings).toMatchObject({
      idleTimeoutMs: 45_000,
      cancelOnAbort: false,
      maxEventLength: 16_777_216,
    });
    expect(settings.retry).toMatchObject({ initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: 8 });
    expect(settings.match(new URL('https://anywhere.test/'))).toBe(true);
  });
});

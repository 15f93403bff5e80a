import { afterEach, describe, expect, it, vi } from 'vitest';
import { httpErrorFromText } from './upstream-http-error.js';

const rateLimited = (headers: Record<string, string | string[]>) =>
  httpErrorFromText('primary', 429, headers, '{"error":{"message":"slow down"}}');

describe('httpErrorFromText: the wait an upstream asked for', () => {
  it('reads Retry-After as seconds, rounding a fraction up', () => {
    expect(rateLimited({ 'retry-after': '7' }).retryAfterSeconds).toBe(7);
    expect(rateLimited({ 'retry-after': '1.2' }).retryAfterSeconds).toBe(2);
  });

  it("reads OpenAI's retry-after-ms first, as whole seconds rounded up", () => {
    expect(rateLimited({ 'retry-after-ms': '250', 'retry-after': '9' }).retryAfterSeconds).toBe(1);
    expect(rateLimited({ 'retry-after-ms': '2500' }).retryAfterSeconds).toBe(3);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads an HTTP date as the time left until it, never negative', () => {
    vi.useFakeTimers({ now: Date.parse('2026-01-01T00:00:00.500Z') });
    expect(rateLimited({ 'retry-after': 'Thu, 01 Jan 2026 00:00:10 GMT' }).retryAfterSeconds).toBe(10);
    expect(rateLimited({ 'retry-after': 'Wed, 31 Dec 2025 23:00:00 GMT' }).retryAfterSeconds).toBe(0);
  });

  it('ignores an absent or unreadable value', () => {
    expect(rateLimited({}).retryAfterSeconds).toBeUndefined();
    expect(rateLimited({ 'retry-after': 'soon' }).retryAfterSeconds).toBeUndefined();
  });

  it('reads the first of repeated headers', () => {
    expect(rateLimited({ 'retry-after': ['3', '8'] }).retryAfterSeconds).toBe(3);
  });
});

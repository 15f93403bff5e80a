import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Authenticator, isLoopback } from './auth.js';
import type { GatewayError } from './errors.js';

function fakeRequest(remoteAddress: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress }, headers } as unknown as IncomingMessage;
}

function refusal(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    return error as GatewayError;
  }
  throw new Error('expected a refusal');
}

describe('Authenticator', () => {
  it('in dev mode accepts loopback callers only, with a message that says how to serve others', () => {
    const auth = new Authenticator([]);
    expect(auth.authenticate(fakeRequest('127.0.0.1')).id).toBe('anonymous');
    expect(auth.authenticate(fakeRequest('::ffff:127.0.0.1')).id).toBe('anonymous');
    const error = refusal(() => auth.authenticate(fakeRequest('192.0.2.10')));
    expect(error.status).toBe(403);
    expect(error.code).toBe('loopback_only');
    expect(error.message).toContain('Add `keys`');
  });

  it('accepts plain and SHA-256 keys from Authorization or x-api-key, from any address', () => {
    const hashed = createHash('sha256').update('sk-hashed-key-1').digest('hex');
    const auth = new Authenticator([
      { name: 'plain', key: 'sk-plain-key-1' },
      { name: 'hashed', sha256: hashed, models: ['gpt-4o*'] },
    ]);
    expect(auth.authenticate(fakeRequest('192.0.2.10', { authorization: 'Bearer sk-plain-key-1' })).id).toBe(
      'plain',
    );
    const caller = auth.authenticate(fakeRequest('192.0.2.10', { 'x-api-key': 'sk-hashed-key-1' }));
    expect(caller.id).toBe('hashed');
    expect(caller.mayUse('gpt-4o-mini')).toBe(true);
    expect(caller.mayUse('o3')).toBe(false);
  });

  it('refuses a missing, malformed or wrong key with 401 invalid_api_key', () => {
    const auth = new Authenticator([{ name: 'plain', key: 'sk-plain-key-1' }]);
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Basic abc' },
      { authorization: 'Bearer sk-plain-key-2' },
    ];
    for (const headers of attempts) {
      const error = refusal(() => auth.authenticate(fakeRequest('127.0.0.1', headers)));
      expect([error.status, error.code]).toEqual([401, 'invalid_api_key']);
    }
  });

  it('refuses credentials that hold no key with 401 in dev mode too, and takes any well-formed key there', () => {
    const auth = new Authenticator([]);
    const attempts: Array<Record<string, string>> = [
      { authorization: 'Basic abc' },
      { authorization: 'Bearer ' },
      { 'x-api-key': '' },
    ];
    for (const headers of attempts) {
      const error = refusal(() => auth.authenticate(fakeRequest('127.0.0.1', headers)));
      expect([error.status, error.code]).toEqual([401, 'invalid_api_key']);
    }
    expect(auth.authenticate(fakeRequest('127.0.0.1', { authorization: 'Bearer sk-x' })).id).toBe(
      'anonymous',
    );
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.8.9.1', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['10.0.0.1', '::ffff:10.0.0.1', '', undefined].some(isLoopback)).toBe(false);
  });
});

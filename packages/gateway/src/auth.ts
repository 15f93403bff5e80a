import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { KeyConfig } from './config/schema.js';
import { GatewayError } from './errors.js';
import type { KeyLimits } from './limits/rate-limiter.js';
import { modelMatcher } from './routing.js';

/** Who is calling: a configured key, or the anonymous loopback user of dev mode. */
export interface Caller {
  /** The key's name (never the key), or `anonymous`. */
  id: string;
  /** Whether this caller may use a model. */
  mayUse(model: string): boolean;
  /** The key's rate limits (none in dev mode). */
  limits: KeyLimits;
}

interface CompiledKey {
  name: string;
  limits: KeyLimits;
  digest: Buffer;
  models: Array<(model: string) => boolean> | undefined;
}

const ANONYMOUS: Caller = { id: 'anonymous', mayUse: () => true, limits: {} };

/** Whether a socket address is loopback (127.0.0.0/8 or ::1, also as IPv4-mapped IPv6). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * Reads the key from `Authorization: Bearer …` (or `x-api-key`, which Anthropic clients send):
 * `undefined` when neither header is sent, 401 when one is sent without a key in it (`Basic …`,
 * an empty `Bearer`), so such a request is never served as if it had sent none.
 */
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (match?.[1] === undefined) {
      throw GatewayError.of(
        'invalid_api_key',
        'The Authorization header holds no API key. Send it as `Authorization: Bearer YOUR_KEY`.',
      );
    }
    return match[1];
  }
  const apiKey = request.headers['x-api-key'];
  if (apiKey === undefined) return undefined;
  if (typeof apiKey !== 'string' || apiKey.trim() === '')
    throw GatewayError.of(
      'invalid_api_key',
      'The x-api-key header holds no API key. Send it as `x-api-key: YOUR_KEY`.',
    );
  return apiKey;
}

/**
 * Authenticates callers against the configured keys: keys are compared as SHA-256 digests in
 * constant time, so neither a plain nor a hashed key leaks through timing. With no keys configured
 * the gateway runs in dev mode and only accepts loopback clients.
 */
export class Authenticator {
  readonly #keys: CompiledKey[];

  constructor(keys: readonly KeyConfig[]) {
    this.#keys = keys.map((key) => ({
      name: key.name,
      limits: key.limits ?? {},
      digest: key.sha256 ? Buffer.from(key.sha256, 'hex') : sha256(key.key as string),
      models: key.models?.map(modelMatcher),
    }));
  }

  /** Whether no keys are configured (dev mode). */
  get devMode(): boolean {
    return this.#keys.length === 0;
  }

  /**
   * The caller of a request, or a 401/403 error. In dev mode any well-formed key is accepted (SDKs
   * insist on sending one), but a malformed `Authorization` is refused as it would be with keys.
   */
  authenticate(request: IncomingMessage): Caller {
    if (this.devMode) {
      if (!isLoopback(request.socket.remoteAddress)) {
        throw GatewayError.of(
          'loopback_only',
          'This gateway has no API keys configured (dev mode) and only accepts clients on this machine. Add `keys` to its configuration to serve others.',
        );
      }
      bearerToken(request);
      return ANONYMOUS;
    }
    const token = bearerToken(request);
    if (!token) {
      throw GatewayError.of(
        'invalid_api_key',
        "You didn't provide an API key. Send it as `Authorization: Bearer YOUR_KEY`.",
      );
    }
    const digest = sha256(token);
    let match: CompiledKey | undefined;
    // Compare against every key so the time taken does not depend on which one matched.
    for (const key of this.#keys) {
      if (timingSafeEqual(key.digest, digest) && !match) match = key;
    }
    if (!match) {
      throw GatewayError.of(
        'invalid_api_key',
        'Incorrect API key provided. Check the key configured for this gateway.',
      );
    }
    const { name, models, limits } = match;
    return {
      id: name,
      limits,
      mayUse: (model) => models === undefined || models.some((matches) => matches(model)),
    };
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

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

/** Reads the key from `Authorization: Bearer …` (or `x-api-key`, which Anthropic clients send). */
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined;
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

  /** The caller of a request, or a 401/403 error. */
  authenticate(request: IncomingMessage): Caller {
    if (this.devMode) {
      if (!isLoopback(request.socket.remoteAddress)) {
        throw GatewayError.of(
          'loopback_only',
          'This gateway has no API keys configured (dev mode) and only accepts clients on this machine. Add `keys` to its configuration to serve others.',
        );
      }
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

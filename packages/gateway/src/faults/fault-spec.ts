/**
 * What a request asks for in its `X-Spool-Fault` header: the simulator's faults and pacing
 * overrides, and the gateway's faults on the client's connection (`faults/downstream-faults.ts`),
 * for tests and demos. Grammar: `key=value` pairs separated by `;` (or `,`), e.g.
 * `status=429;retry-after=2;times=1;key=run-7` or `drop-after=5` or `ttft-ms=0;tps=0`.
 */
export interface FaultSpec {
  /** Fail before the first byte with this HTTP status. */
  status?: number;
  /** `Retry-After` seconds sent with `status`. */
  retryAfterSeconds?: number;
  /** Drop the connection after this many events. */
  dropAfter?: number;
  /** Stop sending (keep the connection open) after this many events. */
  stallAfter?: number;
  /** How long a stall lasts; unset = until the request is aborted. */
  stallMs?: number;
  /** Send one `data: {"error": …}` event after this many events, then end. */
  errorAfter?: number;
  /** Apply the fault to the first `times` requests carrying the same `key` only. */
  times?: number;
  /** Groups requests for `times`. */
  key?: string;
  /** Gateway-side: cut the client's connection after this many events (dev mode / `server.faultInjection`). */
  clientCutAfter?: number;
  /** Gateway-side: stop writing to the client (heartbeats too) after this many events, until it gives up. */
  clientStallAfter?: number;
  /** Override time to first token. */
  ttftMs?: number;
  /** Override tokens per second (0 = as fast as possible). */
  tokensPerSecond?: number;
}

/** Thrown for a malformed `X-Spool-Fault` header; the sim answers it with 400. */
export class FaultSpecError extends Error {
  readonly code = 'invalid_fault_spec';
  constructor(message: string) {
    super(`X-Spool-Fault: ${message}`);
    this.name = 'FaultSpecError';
  }
}

const INTEGER_FIELDS = {
  status: 'status',
  'retry-after': 'retryAfterSeconds',
  'drop-after': 'dropAfter',
  'stall-after': 'stallAfter',
  'stall-ms': 'stallMs',
  'error-after': 'errorAfter',
  times: 'times',
  'client-cut-after': 'clientCutAfter',
  'client-stall-after': 'clientStallAfter',
  'ttft-ms': 'ttftMs',
  tps: 'tokensPerSecond',
} as const satisfies Record<string, keyof FaultSpec>;

/** Parses an `X-Spool-Fault` header value; an empty or missing value is no fault. */
export function parseFaultSpec(header: string | undefined): FaultSpec {
  const spec: FaultSpec = {};
  if (!header) return spec;
  for (const part of header.split(/[;,]/)) {
    const trimmed = part.trim();
    if (!trimmed) continue;
    const separator = trimmed.indexOf('=');
    if (separator < 1) throw new FaultSpecError(`expected key=value, got "${trimmed}"`);
    const name = trimmed.slice(0, separator).trim().toLowerCase();
    const value = trimmed.slice(separator + 1).trim();
    if (name === 'key') {
      spec.key = value;
      continue;
    }
    const field = INTEGER_FIELDS[name as keyof typeof INTEGER_FIELDS];
    if (!field) {
      throw new FaultSpecError(
        `unknown directive "${name}" (known: ${[...Object.keys(INTEGER_FIELDS), 'key'].join(', ')})`,
      );
    }
    if (!/^\d{1,9}$/.test(value))
      throw new FaultSpecError(`"${name}" needs a non-negative integer, got "${value}"`);
    spec[field] = Number(value);
  }
  if (spec.status !== undefined && (spec.status < 400 || spec.status > 599)) {
    throw new FaultSpecError(`status must be 400-599, got ${spec.status}`);
  }
  return spec;
}

/** Whether a spec asks for any fault (as opposed to pacing only). */
function hasFault(spec: FaultSpec): boolean {
  return (
    spec.status !== undefined ||
    spec.dropAfter !== undefined ||
    spec.stallAfter !== undefined ||
    spec.errorAfter !== undefined
  );
}

/**
 * Counts requests per `key` so that `times=n` faults only the first n of them. Keys are kept in
 * insertion order and the oldest are forgotten past `maxKeys`, so a long-running sim stays bounded.
 */
export class FaultBudget {
  readonly #seen = new Map<string, number>();
  constructor(private readonly maxKeys = 10_000) {}

  /** Whether this request's fault applies, counting it against its key. */
  applies(spec: FaultSpec): boolean {
    if (!hasFault(spec)) return false;
    if (spec.times === undefined) return true;
    const key = spec.key ?? '';
    const count = (this.#seen.get(key) ?? 0) + 1;
    this.#seen.delete(key);
    this.#seen.set(key, count);
    if (this.#seen.size > this.maxKeys) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    return count <= spec.times;
  }
}

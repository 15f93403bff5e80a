import type { IncomingMessage } from 'node:http';
import type { Caller } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import type { BodyBudget } from './body-budget.js';

/** The bounds a request body is read within. */
export interface BodyBounds {
  /** The largest body accepted (413 beyond). */
  limitBytes: number;
  /** Time allowed from the start of reading to the body's end (408 beyond); none when unset. */
  timeoutMs?: number | undefined;
  /** What all bodies being received may hold together (503 `body_budget_exceeded` beyond). */
  budget?: BodyBudget | undefined;
  /** The key uploading, counted in the budget's uploads per key. */
  keyId?: string | undefined;
  /** How many bodies this key may upload at once (429 beyond); unlimited when unset. */
  maxUploads?: number | undefined;
}

/** The bounds of a caller's request body, from `server` in the gateway's configuration. */
export function bodyBounds(context: GatewayContext, caller: Caller): BodyBounds {
  const { server } = context.config;
  return {
    limitBytes: server.bodyLimitBytes,
    timeoutMs: server.bodyTimeoutMs,
    budget: context.bodies,
    keyId: caller.id,
    maxUploads: caller.limits.concurrentStreams,
  };
}

/**
 * Reads a request body within its bounds: a declared `Content-Length` over the limit is refused
 * before a byte is read; a body is cut off as soon as it passes the limit or the chunk that arrives
 * does not fit in the budget; a body that has not ended within `timeoutMs` is refused with 408. (`sendError`
 * closes the connection of a request whose body was not read, so the rest is never received.)
 */
export function readBody(request: IncomingMessage, bounds: BodyBounds): Promise<Buffer> {
  const { limitBytes, budget, keyId = 'anonymous' } = bounds;
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) return Promise.reject(tooLarge(limitBytes));
  if (budget && !budget.tryStartUpload(keyId, bounds.maxUploads)) {
    return Promise.reject(
      GatewayError.of(
        'concurrency_limit_exceeded',
        `This key is already uploading ${bounds.maxUploads} request bodies at once (its limits.concurrentStreams). Retry after 1 s.`,
        { retryAfterSeconds: 1 },
      ),
    );
  }
  // Events rather than `for await`: an async iterator over the request costs an iterator, its
  // end-of-stream watcher and a promise per chunk on every request, for a body of one chunk.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // Bytes read, and held in the budget: what arrives, not what is declared, so a client that
    // declares 4 MB and sends nothing holds nothing, and filling the budget costs what it holds.
    let total = 0;
    const fail = (error: Error) => {
      done();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      if (total + chunk.length > limitBytes) return fail(tooLarge(limitBytes));
      if (budget && !budget.tryHold(chunk.length)) return fail(budgetExceeded(budget));
      total += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
    };
    // A connection closed mid-body shows as `error` (ECONNRESET, "aborted") then `close`.
    const onClose = (cause?: Error) =>
      fail(
        GatewayError.of('client_closed_request', 'The client closed the connection before its body ended.', {
          cause,
        }),
      );
    const onTimeout = () =>
      fail(
        GatewayError.of(
          'request_timeout',
          `The request body did not arrive within ${bounds.timeoutMs} ms (server.bodyTimeoutMs).`,
        ),
      );
    const timer = bounds.timeoutMs ? setTimeout(onTimeout, bounds.timeoutMs) : undefined;
    const done = () => {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('close', onClose);
      request.off('error', onClose);
      if (budget) {
        budget.release(total);
        budget.endUpload(keyId);
      }
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('close', onClose);
    request.on('error', onClose);
  });
}

function tooLarge(limitBytes: number): GatewayError {
  return GatewayError.of(
    'request_too_large',
    `Request body is larger than ${limitBytes} bytes (server.bodyLimitBytes).`,
  );
}

function budgetExceeded(budget: BodyBudget): GatewayError {
  return GatewayError.of(
    'body_budget_exceeded',
    `The gateway is receiving as many request bodies as it holds at once (server.bodyBudgetBytes, ${budget.limitBytes} bytes). Retry shortly.`,
    { retryAfterSeconds: 1 },
  );
}

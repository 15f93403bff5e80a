import type { ServerResponse } from 'node:http';
import { GatewayError } from '../errors.js';
import type { RequestAccount } from '../relay/request-account.js';

/** Puts the rate-limit headers on an error that will become the response. */
export function withHeaders(error: unknown, headers: Readonly<Record<string, string>>): unknown {
  if (!(error instanceof GatewayError) || Object.keys(headers).length === 0) return error;
  return new GatewayError(error.status, error.body, {
    retryAfterSeconds: error.retryAfterSeconds,
    cause: error,
    headers: { ...headers, ...error.headers },
  });
}

/**
 * Answers a non-streamed request of an admitted `account` (chat, Messages, embeddings): `answer`
 * gets a signal that aborts when the client goes away, and settles the account as completed; when
 * it throws, the account is settled as cancelled (the client went away) or failed, and the error
 * carries the account's rate-limit headers.
 */
export async function answerAccounted(
  account: RequestAccount,
  response: ServerResponse,
  answer: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const abortOnClose = new AbortController();
  const onClose = () => abortOnClose.abort();
  response.on('close', onClose);
  try {
    await answer(abortOnClose.signal);
  } catch (error) {
    account.settle({ outcome: abortOnClose.signal.aborted ? 'cancelled' : 'failed' });
    throw withHeaders(error, account.headers);
  } finally {
    response.off('close', onClose);
  }
}

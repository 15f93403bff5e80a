import type { ServerResponse } from 'node:http';
import type { Caller } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import { sendJson } from '../http/respond.js';
import { UsageLedgerError } from '../usage/usage-record.js';

/**
 * `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`: the caller's own totals by UTC day and model,
 * from the durable usage ledger.
 */
export async function handleUsage(
  context: GatewayContext,
  caller: Caller,
  response: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  let rows: Awaited<ReturnType<GatewayContext['ledger']['totals']>>;
  try {
    rows = await context.ledger.totals({
      keyId: caller.id,
      from: query.get('from') ?? undefined,
      to: query.get('to') ?? undefined,
    });
  } catch (error) {
    if (error instanceof UsageLedgerError && error.code === 'invalid_query') {
      throw GatewayError.of('invalid_request', error.message, { param: 'from' });
    }
    throw error;
  }
  sendJson(response, 200, {
    object: 'list',
    data: rows.map((row) => ({
      day: row.day,
      model: row.model,
      requests: row.requests,
      prompt_tokens: row.promptTokens,
      completion_tokens: row.completionTokens,
      total_tokens: row.totalTokens,
    })),
  });
}

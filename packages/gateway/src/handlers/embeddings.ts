import type { IncomingMessage, ServerResponse } from 'node:http';
import { REQUEST_ID_HEADER } from '@spool/protocol';
import type { Caller } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { bodyBounds, readBody } from '../http/read-body.js';
import { sendJson } from '../http/respond.js';
import { parseEmbeddingsRequest } from '../http/validate-embeddings-request.js';
import { estimateEmbeddingTokens } from '../limits/estimate-tokens.js';
import { RequestAccount } from '../relay/request-account.js';
import { answerAccounted } from './accounted-answer.js';
import { routeModel } from './route-model.js';

/**
 * `POST /v1/embeddings`: checked, routed by its model like a chat request, admitted against the
 * key's limits, relayed to the first upstream that answers (retries, failover and breakers as for
 * chat), accounted by the upstream's usage, and answered as the upstream answered.
 */
export async function handleEmbeddings(
  context: GatewayContext,
  caller: Caller,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
): Promise<void> {
  const raw = await readBody(request, bodyBounds(context, caller));
  const body = parseEmbeddingsRequest(raw, context.config.server.jsonMaxDepth);
  const route = routeModel(context, caller, body.model);
  const tokens = () => estimateEmbeddingTokens(body.input);
  const account = await RequestAccount.admitEstimated(context, caller, requestId, {
    model: body.model,
    promptTokens: tokens,
    reservedTokens: tokens,
  });
  await answerAccounted(account, response, async (signal) => {
    const result = await context.chain.embeddings(route.targets, body, {
      requestId,
      headers: request.headers,
      signal,
    });
    const usage = (result.body as { usage?: { prompt_tokens?: unknown } } | null)?.usage;
    const promptTokens = typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : undefined;
    account.settle({
      outcome: 'completed',
      usage:
        promptTokens === undefined
          ? undefined
          : { prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: promptTokens },
      provider: result.provider.name,
    });
    sendJson(response, 200, result.body, { ...account.headers, [REQUEST_ID_HEADER]: requestId });
  });
}

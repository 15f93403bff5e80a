import type { ServerResponse } from 'node:http';
import type { Caller } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import { sendJson } from '../http/respond.js';

/**
 * `GET /v1/models/{id}`: the model as `GET /v1/models` lists it to this caller (the routing rules
 * and what their upstreams list, the last known list when one is down), or 404 `model_not_found`.
 */
export async function handleRetrieveModel(
  context: GatewayContext,
  caller: Caller,
  response: ServerResponse,
  modelId: string,
): Promise<void> {
  const model = caller.mayUse(modelId)
    ? (await context.router.listModels(AbortSignal.timeout(10_000))).find((entry) => entry.id === modelId)
    : undefined;
  if (!model) {
    throw GatewayError.of(
      'model_not_found',
      `The model \`${modelId}\` does not exist or you do not have access to it.`,
      { param: 'model' },
    );
  }
  sendJson(response, 200, model);
}

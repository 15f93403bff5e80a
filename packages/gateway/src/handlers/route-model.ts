import type { Caller } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { GatewayError } from '../errors.js';
import type { ResolvedRoute } from '../routing.js';

/**
 * Where a request for `model` goes, for this caller: 404 `model_not_found` when no rule routes it,
 * 403 `model_not_allowed` when the caller's key may not use it.
 */
export function routeModel(context: GatewayContext, caller: Caller, model: string): ResolvedRoute {
  const route = context.router.resolve(model);
  if (!route) {
    throw GatewayError.of(
      'model_not_found',
      `The model \`${model}\` does not exist or you do not have access to it.`,
      { param: 'model' },
    );
  }
  if (!caller.mayUse(model)) {
    throw GatewayError.of('model_not_allowed', `This API key may not use the model \`${model}\`.`, {
      param: 'model',
    });
  }
  return route;
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Caller, isLoopback } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { sendJson } from '../http/respond.js';

/**
 * `GET /v1/models`: what the routing rules and the upstreams they point to offer this caller, in
 * OpenAI's list shape or (`shape: 'anthropic'`) Anthropic's.
 */
export async function handleListModels(
  context: GatewayContext,
  caller: Caller,
  response: ServerResponse,
  shape: 'openai' | 'anthropic' = 'openai',
): Promise<void> {
  const signal = AbortSignal.timeout(10_000);
  const models = (await context.router.listModels(signal)).filter((model) => caller.mayUse(model.id));
  if (shape === 'openai') {
    sendJson(response, 200, { object: 'list', data: models });
    return;
  }
  sendJson(response, 200, {
    data: models.map((model) => ({
      type: 'model',
      id: model.id,
      display_name: model.id,
      created_at: new Date(model.created * 1000).toISOString(),
    })),
    has_more: false,
    first_id: models[0]?.id ?? null,
    last_id: models.at(-1)?.id ?? null,
  });
}

/**
 * Whether a caller may see what `/ready` checked (the store, the providers' names, their errors):
 * loopback clients and callers with a valid key. Everyone else gets the status alone.
 */
function mayReadChecks(context: GatewayContext, request: IncomingMessage): boolean {
  if (isLoopback(request.socket.remoteAddress)) return true;
  if (context.auth.devMode) return false;
  try {
    context.auth.authenticate(request);
    return true;
  } catch {
    return false;
  }
}

/**
 * `GET /ready`: 200 when the store and every upstream answer, 503 otherwise; every check's result
 * and `upstreamsDown` (the providers that did not answer) go only to loopback or authenticated
 * callers, others get the status alone.
 */
export async function handleReady(
  context: GatewayContext,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const checks: Record<string, string> = {};
  const signal = AbortSignal.timeout(3000);
  const run = async (name: string, check: () => Promise<void>) => {
    try {
      await check();
      checks[name] = 'ok';
    } catch (error) {
      checks[name] = error instanceof Error ? error.message : String(error);
    }
  };
  await Promise.all([
    run(`store:${context.store.kind}`, () => context.store.ping()),
    ...[...context.router.providers.values()].map((provider) =>
      run(`provider:${provider.name}`, () => provider.checkReady(signal)),
    ),
  ]);
  const ready = !context.draining && Object.values(checks).every((value) => value === 'ok');
  const status = ready ? 'ready' : context.draining ? 'draining' : 'not_ready';
  if (!mayReadChecks(context, request)) {
    sendJson(response, ready ? 200 : 503, { status });
    return;
  }
  const upstreamsDown = [...context.router.providers.keys()].filter(
    (name) => checks[`provider:${name}`] !== 'ok',
  );
  sendJson(response, ready ? 200 : 503, { status, checks, upstreamsDown });
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { REQUEST_ID_HEADER } from '@spool/protocol';
import pino, { type Logger } from 'pino';
import { Authenticator } from './auth.js';
import {
  type CompletionCache,
  MemoryCompletionCache,
  RedisCompletionCache,
} from './cache/completion-cache.js';
import type { GatewayConfig } from './config/schema.js';
import type { GatewayContext } from './context.js';
import { GatewayError } from './errors.js';
import { downstreamFaultFor } from './faults/downstream-faults.js';
import { DEFAULT_STATIC_DIR, serveStatic } from './handlers/static-files.js';
import { BodyBudget } from './http/body-budget.js';
import { applyCors } from './http/cors.js';
import { refuseForeignHost } from './http/loopback-host.js';
import { parseRequestTarget } from './http/request-target.js';
import { asGatewayError, sendError } from './http/respond.js';
import { newRequestId } from './ids.js';
import { createRateLimiter } from './limits/create-rate-limiter.js';
import { GatewayMetrics } from './metrics.js';
import { RedisConnections } from './redis/redis-connections.js';
import { HeartbeatScheduler } from './relay/sse-writer.js';
import { StreamRelay } from './relay/stream-relay.js';
import { ROUTES, type Route, RouteTable } from './routes.js';
import { createProviders, ModelRouter } from './routing.js';
import { createStore } from './spool/create-store.js';
import { MESSAGES_SURFACE } from './surfaces/messages/messages-surface.js';
import type { Surface } from './surfaces/surface.js';
import { ConcurrencyLimiter } from './upstream/concurrency-limiter.js';
import { UpstreamChain } from './upstream/upstream-chain.js';
import { createUsageLedger, type UsageLedgerStoreOptions } from './usage/create-usage-ledger.js';

/** A running gateway. */
export interface Gateway {
  /** `http://host:port`, the base of every route (the OpenAI base URL is `${url}/v1`). */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly context: GatewayContext;
  /** Stops accepting, lets open streams finish (up to `server.shutdownGraceMs`), then closes. */
  close(): Promise<void>;
}

/** Options of `startGateway` besides the configuration. */
export interface StartGatewayOptions {
  /** A logger to use instead of one built from `server.logLevel`. */
  logger?: Logger;
  /** The environment providers read keys from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Metrics to record into (a registry per gateway by default). */
  metrics?: GatewayMetrics;
  /** Draws in [0, 1) for weighted target choice and retry jitter (seed it for a repeatable test). @default Math.random */
  random?: () => number;
}

function errorClass(error: GatewayError): string {
  const code = error.body.error.code;
  return code === 'upstream_timeout' || code === 'upstream_unreachable' ? code : String(error.status);
}

/** The usage store's options; `parseConfig` has refused a redis or postgres store without its URL. */
function usageLedgerOptions(config: GatewayConfig, connections: RedisConnections): UsageLedgerStoreOptions {
  const { usage, spool } = config;
  switch (usage.store) {
    case 'memory':
      return { store: 'memory' };
    case 'redis':
      return { store: 'redis', url: (usage.redisUrl ?? spool.redisUrl) as string, connections };
    case 'postgres':
      return { store: 'postgres', connectionString: usage.postgresUrl as string, table: usage.table };
    default:
      return { store: 'file', path: usage.path, groupCommitWindowMs: usage.groupCommitMs };
  }
}

function createLimiters(config: GatewayConfig): Map<string, ConcurrencyLimiter> {
  const limiters = new Map<string, ConcurrencyLimiter>();
  for (const [name, provider] of Object.entries(config.providers)) {
    if (provider.type !== 'sim')
      limiters.set(name, new ConcurrencyLimiter(name, provider.connections, provider.queueTimeoutMs));
  }
  return limiters;
}

function createCache(config: GatewayConfig, connections: RedisConnections): CompletionCache | undefined {
  const { cache, spool } = config;
  if (!cache.enabled) return undefined;
  if (cache.store === 'redis' && spool.redisUrl)
    return new RedisCompletionCache({
      url: spool.redisUrl,
      keyPrefix: spool.keyPrefix,
      ttlMs: cache.ttlMs,
      connections,
    });
  return new MemoryCompletionCache(cache.ttlMs, cache.maxEntries);
}

/** Starts the gateway on `config.server.host:port` (port 0 picks a free one). */
export async function startGateway(
  config: GatewayConfig,
  options: StartGatewayOptions = {},
): Promise<Gateway> {
  // What start-up has opened so far, closed (newest first) when a later step fails: a fatal
  // start-up error must not leave Redis or PostgreSQL connections holding the process open.
  const opened: Array<() => unknown> = [];
  try {
    const context = await createContext(config, options, opened);
    const server = createServer(
      { headersTimeout: config.server.headersTimeoutMs, requestTimeout: 0, keepAliveTimeout: 5000 },
      (request, response) => {
        handleSafely(context, request, response);
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.server.port, config.server.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${host}:${address.port}`,
      port: address.port,
      server,
      context,
      close: () => {
        closing ??= shutdown(context, server);
        return closing;
      },
    };
  } catch (error) {
    for (const close of opened.reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => {});
    throw error;
  }
}

/** Opens what the gateway's handlers share, recording in `opened` how to close each part. */
async function createContext(
  config: GatewayConfig,
  options: StartGatewayOptions,
  opened: Array<() => unknown>,
): Promise<GatewayContext> {
  const log = options.logger ?? pino({ level: config.server.logLevel, base: { service: 'spool-gateway' } });
  const providers = createProviders(config, options.env ?? process.env);
  opened.push(() => Promise.all([...providers.values()].map((provider) => provider.close())));
  // One command connection per Redis URL for the spool, limits, usage and cache (each part
  // closes its lease; the connection closes with the last), plus the spool's subscriber.
  const redis = new RedisConnections({
    onError: (error, purpose) => log.warn({ err: error, purpose }, 'redis connection error'),
  });
  const store = await createStore(config, log, redis);
  opened.push(() => store.close());
  const limiter = await createRateLimiter(
    config.limits.store === 'redis'
      ? {
          store: 'redis',
          // parseConfig has refused a redis store without a URL.
          url: (config.limits.redisUrl ?? config.spool.redisUrl) as string,
          keyPrefix: config.limits.keyPrefix,
          failMode: config.limits.failMode,
          log,
          connections: redis,
        }
      : { store: 'memory', failMode: config.limits.failMode, log },
  );
  opened.push(() => limiter.close());
  const ledger = await createUsageLedger(usageLedgerOptions(config, redis));
  opened.push(() => ledger.close());
  const cache = createCache(config, redis);
  opened.push(() => cache?.close());
  const metrics = options.metrics ?? new GatewayMetrics();
  const heartbeats = new HeartbeatScheduler(config.server.heartbeatIntervalMs);
  opened.push(() => heartbeats.close());
  const auth = new Authenticator(config.keys);
  const context: GatewayContext = {
    config,
    router: new ModelRouter(config.models, providers),
    chain: new UpstreamChain(
      config.resilience,
      {
        onRetry: (provider) => metrics.retries.inc({ provider }),
        onFailover: (from, to) => metrics.failovers.inc({ from, to }),
        onFailure: (provider, error) => metrics.upstreamErrors.inc({ provider, class: errorClass(error) }),
      },
      createLimiters(config),
      options.random,
    ),
    auth,
    store,
    relay: new StreamRelay(
      store,
      {
        disconnectGraceMs: config.spool.disconnectGraceMs,
        onSpooled: (bytes) => metrics.spoolBytes.inc(bytes),
        maxDurationMs: config.generation.maxDurationMs,
        maxBytes: config.generation.maxBytes,
      },
      log,
    ),
    heartbeats,
    log,
    metrics,
    limiter,
    ledger,
    cache,
    bodies: new BodyBudget(config.server.bodyBudgetBytes),
    readers: new Set(),
    // A production gateway cannot be made to cut its own clients.
    wrapStartedStream: auth.devMode || config.server.faultInjection ? downstreamFaultFor : undefined,
    draining: false,
  };
  metrics.activeGenerations = () => context.relay.activeCount;
  metrics.bodyBytesHeld = () => context.bodies.heldBytes;
  return context;
}

async function shutdown(context: GatewayContext, server: Server): Promise<void> {
  context.draining = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // With a shared store, readers are better served by another instance right away: end their
  // connections (they resume elsewhere from their last event id) while generation goes on here.
  if (context.store.kind !== 'memory') for (const reader of context.readers) reader.abort();
  await context.relay.drain(context.config.server.shutdownGraceMs);
  // Readers of streams that just ended get their last bytes; then whatever is left is cut.
  const deadline = setTimeout(() => server.closeAllConnections(), 1000);
  await closed;
  clearTimeout(deadline);
  context.heartbeats.close();
  await Promise.allSettled([context.limiter.close(), context.ledger.close(), context.cache?.close()]);
  await context.store.close();
  await Promise.all([...context.router.providers.values()].map((provider) => provider.close()));
}

const ROUTE_TABLE = new RouteTable(ROUTES);

/** Answers 405 with `Allow` unless the route takes the method. */
function checkMethod(route: Route, path: string, response: ServerResponse, method: string | undefined): void {
  if (route.methods.includes(method ?? '')) return;
  const methods = route.methods.join(', ');
  response.setHeader('allow', methods);
  throw GatewayError.of('method_not_allowed', `Method ${method} is not allowed on ${path}; use ${methods}.`);
}

/**
 * The request handler's top level: nothing a client sends may end the process, so whatever escapes
 * `handle` (a bug) is logged and answered here.
 */
function handleSafely(context: GatewayContext, request: IncomingMessage, response: ServerResponse): void {
  handle(context, request, response).catch((error: unknown) => {
    try {
      context.log.error({ err: error }, 'request handler failed');
      if (!response.headersSent) sendError(response, asGatewayError(error));
      else response.destroy();
    } catch {
      response.destroy();
    }
  });
}

async function handle(
  context: GatewayContext,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const incomingId = request.headers[REQUEST_ID_HEADER];
  const requestId =
    typeof incomingId === 'string' && /^[\w.:-]{1,128}$/.test(incomingId) ? incomingId : newRequestId();
  let label = 'unknown';
  let path: string | undefined;
  let route: Route | undefined;
  let errorSurface: Surface | undefined;
  try {
    if (context.auth.devMode) refuseForeignHost(request);
    const target = parseRequestTarget(request.url);
    path = target.path;
    const match = ROUTE_TABLE.match(path);
    route = match?.route;
    label = match ? match.label : path.startsWith('/v1/') ? 'unknown' : 'static';
    if (!match?.route.streamingMethods?.includes(request.method ?? ''))
      response.setHeader(REQUEST_ID_HEADER, requestId);
    if (applyCors(context.config.cors, request, response)) return;
    if (match) {
      checkMethod(match.route, path, response, request.method);
      if (context.draining && !match.route.whileDraining) {
        response.setHeader('connection', 'close');
        throw GatewayError.of('shutting_down', 'The gateway is shutting down; retry on another instance.', {
          retryAfterSeconds: 1,
        });
      }
      await match.route.handle({
        context,
        request,
        response,
        requestId,
        query: target.query,
        params: match.params,
        answerErrorsAs: (surface) => {
          errorSurface = surface;
        },
      });
      return;
    }
    if ((request.method === 'GET' || request.method === 'HEAD') && !path.startsWith('/v1/')) {
      const directory = context.config.server.staticDir ?? DEFAULT_STATIC_DIR;
      if (await serveStatic(directory, path, response, request.method === 'HEAD')) return;
    }
    throw GatewayError.of(
      'not_found',
      `Unknown path ${path}. Spool serves ${ROUTE_TABLE.apiPaths().join(', ')}.`,
    );
  } catch (error) {
    const gatewayError = asGatewayError(error);
    if (gatewayError.status >= 500 && gatewayError.body.error.code === 'internal_error') {
      context.log.error({ err: error, requestId }, 'request failed');
    }
    // Each surface answers errors in its own API's shape (OpenAI's unless the route, or the stream
    // a request names, says otherwise). Requests of no known surface (models, unknown stream ids,
    // unknown paths) answer Anthropic's clients, which send `anthropic-version`, in Anthropic's
    // shape, so their SDKs raise their own error classes.
    const send =
      (errorSurface ?? route?.surface)?.sendError ??
      (request.headers['anthropic-version'] !== undefined ? MESSAGES_SURFACE.sendError : sendError);
    if (!response.headersSent) send(response, gatewayError, { [REQUEST_ID_HEADER]: requestId });
    else if (!response.writableEnded) response.end();
  } finally {
    const log = () => {
      context.metrics.requests.inc({ route: label, status: String(response.statusCode) });
      context.log.info(
        {
          requestId,
          method: request.method,
          path: path ?? request.url,
          status: response.statusCode,
          durationMs: Math.round(performance.now() - started),
        },
        'request',
      );
    };
    if (response.writableFinished || response.destroyed) log();
    else response.once('close', log);
  }
}

import { z } from 'zod';

const duration = z.number().int().nonnegative();

const simProviderSchema = z
  .object({
    type: z.literal('sim'),
    ttftMs: duration.default(300).describe('Delay before the first event, in ms (0 for tests).'),
    tokensPerSecond: z
      .number()
      .nonnegative()
      .default(40)
      .describe('Tokens per second; 0 = as fast as possible.'),
  })
  .strict();

/** What every HTTP upstream shares: its connection pool, queue and timeouts. */
const connectionFields = {
  connections: z
    .number()
    .int()
    .positive()
    .default(1024)
    .describe('Pooled keep-alive connections, and the bound on requests in flight (a stream holds one).'),
  queueTimeoutMs: duration
    .default(30_000)
    .describe('How long a request waits for a free connection before 503 upstream_busy.'),
  connectTimeoutMs: duration.default(10_000).describe('Time allowed to connect.'),
  firstByteTimeoutMs: duration
    .default(120_000)
    .describe('Time allowed until response headers (answers 504).'),
  idleTimeoutMs: duration.default(120_000).describe('Time allowed between two streamed chunks.'),
};

const openaiProviderSchema = z
  .object({
    type: z.literal('openai'),
    baseURL: z.url().describe('Base URL with the version prefix, e.g. https://api.openai.com/v1.'),
    apiKey: z.string().optional().describe('Upstream API key; prefer apiKeyEnv.'),
    apiKeyEnv: z
      .string()
      .optional()
      .describe('Name of the environment variable holding the upstream API key.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra headers sent upstream.'),
    passHeaders: z
      .array(z.string().toLowerCase())
      .default([])
      .describe('Client request headers copied upstream.'),
    apis: z
      .array(z.enum(['chat', 'responses']))
      .min(1)
      .optional()
      .describe(
        'The APIs the upstream speaks: a surface it speaks passes through natively, others are translated through chat. Default ["chat", "responses"] for api.openai.com and *.openai.azure.com, else ["chat"] (Ollama, vLLM, DeepSeek, llama.cpp …).',
      ),
    ...connectionFields,
  })
  .strict();

const anthropicProviderSchema = z
  .object({
    type: z.literal('anthropic'),
    baseURL: z
      .url()
      .default('https://api.anthropic.com')
      .describe('Base URL without /v1; requests go to {baseURL}/v1/messages.'),
    apiKey: z.string().optional().describe('Upstream API key; prefer apiKeyEnv.'),
    apiKeyEnv: z
      .string()
      .default('ANTHROPIC_API_KEY')
      .describe('Name of the environment variable holding the upstream API key.'),
    anthropicVersion: z.string().default('2023-06-01').describe('Sent as the anthropic-version header.'),
    defaultMaxTokens: z
      .number()
      .int()
      .positive()
      .default(4096)
      .describe('max_tokens when a request sets none (Anthropic requires it).'),
    headers: z
      .record(z.string(), z.string())
      .default({})
      .describe('Extra headers sent upstream (e.g. anthropic-beta).'),
    ...connectionFields,
  })
  .strict();

const providerSchema = z.discriminatedUnion('type', [
  simProviderSchema,
  openaiProviderSchema,
  anthropicProviderSchema,
]);

const targetSchema = z
  .object({
    provider: z.string().min(1).describe('Name of a provider in `providers`.'),
    weight: z.number().nonnegative().default(1).describe('Share of first attempts; 0 = failover only.'),
    upstreamModel: z.string().min(1).optional().describe('Model name sent to this provider.'),
  })
  .strict();

const routeSchema = z
  .object({
    match: z.string().min(1).describe('Model name, or a pattern with * wildcards.'),
    provider: z.string().min(1).optional().describe('Name of a provider in `providers` (or use `targets`).'),
    upstreamModel: z
      .string()
      .min(1)
      .optional()
      .describe('Model name sent upstream; default: the requested one.'),
    targets: z
      .array(targetSchema)
      .min(1)
      .optional()
      .describe('Several providers: weighted first choice, the others in weight order as failover.'),
  })
  .strict()
  .refine((route) => (route.provider === undefined) !== (route.targets === undefined), {
    message: 'set exactly one of `provider` or `targets`',
  });

const resilienceSchema = z
  .object({
    retry: z
      .object({
        attempts: z
          .number()
          .int()
          .nonnegative()
          .default(2)
          .describe('Retries of one upstream before failing over.'),
        initialDelayMs: duration.default(200).describe('First retry delay (exponential, full jitter).'),
        maxDelayMs: duration.default(2000).describe('Longest retry delay.'),
        maxRetryAfterMs: duration
          .default(10_000)
          .describe('Longest upstream Retry-After honoured before failing over instead.'),
      })
      .strict()
      .prefault({}),
    breaker: z
      .object({
        failureThreshold: z
          .number()
          .int()
          .positive()
          .default(5)
          .describe("Consecutive failures that open an upstream's breaker."),
        cooldownMs: duration.default(30_000).describe('How long an open breaker refuses before one probe.'),
      })
      .strict()
      .prefault({}),
    readAheadMs: duration
      .default(5000)
      .describe('Wait this long for the first meaningful chunk before committing the 200.'),
  })
  .strict()
  .prefault({});

const keySchema = z
  .object({
    name: z.string().min(1).describe('Label for logs and usage; never the key itself.'),
    key: z.string().min(8).optional().describe('The key in plain text.'),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/i)
      .optional()
      .describe('Hex SHA-256 of the key, instead of `key`.'),
    models: z.array(z.string()).optional().describe('Model patterns this key may use; default: all.'),
    limits: z
      .object({
        requestsPerMinute: z.number().int().positive().optional().describe('Requests admitted in any 60 s.'),
        tokensPerMinute: z
          .number()
          .int()
          .positive()
          .optional()
          .describe('Prompt + completion tokens in any 60 s (estimated, then reconciled).'),
        concurrentStreams: z.number().int().positive().optional().describe('Requests in flight at once.'),
      })
      .strict()
      .optional()
      .describe('Rate limits of this key; unset = unlimited.'),
  })
  .strict()
  .refine((value) => (value.key === undefined) !== (value.sha256 === undefined), {
    message: 'set exactly one of `key` or `sha256`',
  });

/** The gateway's configuration file, validated at start-up; every default lives here. */
export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('127.0.0.1').describe('Interface to listen on.'),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(8787)
          .describe('Port to listen on (PORT env, --port).'),
        heartbeatIntervalMs: z
          .number()
          .int()
          .positive()
          .default(15_000)
          .describe('Comment heartbeat interval on idle streams.'),
        retryMs: duration
          .default(1000)
          .describe('`retry:` hint sent at the start of every stream for native EventSource.'),
        bodyLimitBytes: z
          .number()
          .int()
          .positive()
          .default(4 * 1024 * 1024)
          .describe('Largest request body (413 beyond).'),
        bodyTimeoutMs: z
          .number()
          .int()
          .positive()
          .default(30_000)
          .describe('Time a client has to send its whole request body once it is being read (408 beyond).'),
        bodyBudgetBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024 * 1024)
          .describe(
            'Bytes all request bodies being received may hold together; past it 503 body_budget_exceeded. At least bodyLimitBytes.',
          ),
        jsonMaxDepth: z
          .number()
          .int()
          .positive()
          .default(128)
          .describe('Deepest nesting of arrays and objects in a JSON request body (400 beyond).'),
        headersTimeoutMs: z
          .number()
          .int()
          .positive()
          .default(30_000)
          .describe('Time a client has to send its headers.'),
        slowClientTimeoutMs: duration
          .default(60_000)
          .describe(
            'Cut a client that reads nothing for this long while its socket is full (it can resume); 0 = never.',
          ),
        firstBytesWithinMs: duration
          .default(2000)
          .describe(
            'Longest a streamed request waits for its upstream before the gateway sends its 200, headers and `retry:` anyway, so a slow upstream is not taken for a buffering proxy (clients presume one after 6 s of silence). An upstream that refuses later ends the stream with its error event instead of an HTTP status.',
          ),
        longPollMaxWaitMs: duration
          .default(25_000)
          .describe(
            'Longest a long-poll read (`GET /v1/streams/{id}?after=n&wait=s`) is held open with no event: below the 30-60 s idle timeouts of common proxies.',
          ),
        longPollMaxBytes: z
          .number()
          .int()
          .positive()
          .default(1024 * 1024)
          .describe(
            'Most event bytes one long-poll answer carries (at least one event); the rest come on the next read.',
          ),
        shutdownGraceMs: duration
          .default(30_000)
          .describe('How long SIGTERM waits for open streams to finish.'),
        faultInjection: z
          .boolean()
          .default(false)
          .describe(
            'Honour the client-cut/client-stall directives of X-Spool-Fault (always on in dev mode).',
          ),
        staticDir: z.string().optional().describe('Directory served at / (default: the built chat page).'),
        logLevel: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info')
          .describe('pino log level (LOG_LEVEL env); JSON lines on stdout.'),
      })
      .strict()
      .refine((server) => server.bodyBudgetBytes >= server.bodyLimitBytes, {
        message:
          'bodyBudgetBytes must be at least bodyLimitBytes, or no body of the largest size could arrive',
        path: ['bodyBudgetBytes'],
      })
      .prefault({}),
    providers: z.record(z.string().min(1), providerSchema).prefault({ sim: { type: 'sim' } }),
    models: z.array(routeSchema).default([{ match: '*', provider: 'sim' }]),
    resilience: resilienceSchema,
    limits: z
      .object({
        store: z
          .enum(['memory', 'redis'])
          .default('memory')
          .describe('Where rate-limit windows live; redis shares one limit across instances.'),
        redisUrl: z.string().optional().describe('Redis URL for the limits (default: spool.redisUrl).'),
        keyPrefix: z.string().default('spool:rl:').describe('Prefix of the rate-limit keys.'),
        failMode: z
          .enum(['closed', 'open'])
          .default('closed')
          .describe(
            'When the limit store is unreachable: refuse with 503 (closed) or admit unlimited (open).',
          ),
      })
      .strict()
      .prefault({}),
    usage: z
      .object({
        store: z
          .enum(['file', 'memory', 'redis', 'postgres'])
          .default('file')
          .describe('Where usage records are kept (durable unless memory).'),
        path: z.string().default('./.spool/usage.jsonl').describe("The usage file (fsync'd JSONL appends)."),
        groupCommitMs: duration
          .default(10)
          .describe('How long a usage record waits to share one durable write with others (file store).'),
        redisUrl: z.string().optional().describe('Redis URL for the usage store (default: spool.redisUrl).'),
        postgresUrl: z.string().optional().describe('PostgreSQL connection string for the usage store.'),
        table: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/)
          .default('spool_usage')
          .describe('PostgreSQL table of usage records.'),
      })
      .strict()
      .prefault({}),
    cors: z
      .object({
        origins: z
          .array(z.string())
          .default([])
          .describe('Browser origins allowed to call the gateway (`*` for any); same-origin always is.'),
        maxAgeSeconds: z
          .number()
          .int()
          .nonnegative()
          .default(600)
          .describe('How long browsers cache a preflight.'),
      })
      .strict()
      .prefault({}),
    cache: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe('Exact-match cache of non-streamed completions, per API key.'),
        ttlMs: duration.default(300_000).describe('How long a cached completion is served.'),
        maxEntries: z.number().int().positive().default(1000).describe('Entries kept by the memory cache.'),
        store: z
          .enum(['memory', 'redis'])
          .default('memory')
          .describe('Where cached completions live (redis uses spool.redisUrl).'),
      })
      .strict()
      .prefault({}),
    keys: z
      .array(keySchema)
      .default([])
      .describe('Gateway API keys; none = dev mode, loopback clients only.'),
    spool: z
      .object({
        store: z.enum(['memory', 'redis']).default('memory').describe('Where streams are spooled.'),
        redisUrl: z.string().optional().describe('Redis URL for the redis store (REDIS_URL env).'),
        keyPrefix: z.string().default('spool:').describe('Prefix of every Redis key.'),
        retentionMs: duration.default(60 * 60 * 1000).describe('How long a finished stream stays resumable.'),
        maxStreamBytes: z
          .number()
          .int()
          .positive()
          .default(8 * 1024 * 1024)
          .describe('Bytes kept per stream; older events are evicted (410).'),
        maxMemoryBytes: z
          .number()
          .int()
          .positive()
          .default(256 * 1024 * 1024)
          .describe(
            'Memory store: bytes all streams hold together; past it, finished streams are dropped oldest first (410).',
          ),
        lostAfterMs: z
          .number()
          .int()
          .min(100)
          .default(5000)
          .describe(
            'Redis store: a stream whose generating instance stopped marking itself alive this long ago ends with a generation_lost error event, and its Idempotency-Key starts a new generation.',
          ),
        disconnectGraceMs: duration
          .nullable()
          .default(null)
          .describe('Stop generating this long after the last reader left; null = run to completion.'),
      })
      .strict()
      .prefault({}),
    generation: z
      .object({
        maxDurationMs: z
          .number()
          .int()
          .positive()
          .default(30 * 60 * 1000)
          .describe(
            'Longest a generation may run; past it the stream ends with a generation_limit_exceeded error event.',
          ),
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024 * 1024)
          .describe(
            'Most bytes a generation may spool (or a non-streamed answer hold); past it the stream ends with a generation_limit_exceeded error event (a non-streamed request answers 502).',
          ),
        maxEventBytes: z
          .number()
          .int()
          .positive()
          .default(16 * 1024 * 1024)
          .describe(
            "Largest single upstream event (a big tool call's arguments, an image); past it the stream ends with upstream_event_too_large and the upstream connection is closed.",
          ),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  // `when`: run even when other fields failed, so one error names every bad field, not only the
  // schema's; the value may then be partly unparsed, so every field is checked before use.
  .superRefine(crossFieldChecks, { when: () => true });

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The checks no single field can make: every route names a configured provider, and a store that
 * needs a Redis or PostgreSQL URL has one.
 */
function crossFieldChecks(config: unknown, context: z.RefinementCtx): void {
  if (!isRecord(config)) return;
  const issue = (path: PropertyKey[], message: string) => context.addIssue({ code: 'custom', path, message });
  const { providers, models, spool, limits, usage } = config;
  if (isRecord(providers) && Array.isArray(models)) {
    const known = Object.keys(providers).join(', ') || 'none';
    const check = (provider: unknown, path: PropertyKey[]) => {
      if (typeof provider === 'string' && !Object.hasOwn(providers, provider))
        issue(path, `unknown provider "${provider}" (configured: ${known})`);
    };
    models.forEach((route: unknown, index) => {
      if (!isRecord(route)) return;
      check(route.provider, ['models', index, 'provider']);
      if (Array.isArray(route.targets))
        route.targets.forEach((target: unknown, targetIndex) => {
          if (isRecord(target)) check(target.provider, ['models', index, 'targets', targetIndex, 'provider']);
        });
    });
  }
  const spoolUrl = isRecord(spool) ? spool.redisUrl : undefined;
  if (isRecord(spool) && spool.store === 'redis' && (spoolUrl === undefined || spoolUrl === ''))
    issue(['spool', 'redisUrl'], 'required when spool.store is "redis" (or set REDIS_URL)');
  for (const [name, section] of [
    ['limits', limits],
    ['usage', usage],
  ] as const) {
    if (isRecord(section) && section.store === 'redis' && !(section.redisUrl ?? spoolUrl))
      issue([name, 'redisUrl'], `required when ${name}.store is "redis" (or set spool.redisUrl / REDIS_URL)`);
  }
  if (isRecord(usage) && usage.store === 'postgres' && usage.postgresUrl === undefined)
    issue(['usage', 'postgresUrl'], 'required when usage.store is "postgres"');
}

/** The configuration as written (defaults optional). */
export type GatewayConfigInput = z.input<typeof configSchema>;
/** The configuration with every default applied. */
export type GatewayConfig = z.output<typeof configSchema>;
/** One provider's configuration. */
export type ProviderConfig = z.output<typeof providerSchema>;
/** One routing rule. */
export type RouteConfig = z.output<typeof routeSchema>;
/** One gateway API key. */
export type KeyConfig = z.output<typeof keySchema>;

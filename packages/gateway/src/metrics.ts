import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The gateway's Prometheus metrics, in a registry of its own (several gateways can share a process). */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'spool_http_requests_total',
    help: 'HTTP requests answered, by route and status.',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly streamsOpen = new Gauge({
    name: 'spool_streams_open',
    help: 'Client connections currently reading an event stream.',
    registers: [this.registry],
  });
  /** Where the generation count is read from at scrape time (set by the gateway). */
  activeGenerations: () => number = () => 0;
  readonly generationsActive = new Gauge({
    name: 'spool_generations_active',
    help: 'Upstream generations this instance is running.',
    registers: [this.registry],
    collect: () => {
      this.generationsActive.set(this.activeGenerations());
    },
  });
  /** Where the bytes held by request bodies being received are read from at scrape time. */
  bodyBytesHeld: () => number = () => 0;
  readonly requestBodyBytes = new Gauge({
    name: 'spool_request_body_bytes_held',
    help: 'Bytes held by request bodies being received (bounded by server.bodyBudgetBytes).',
    registers: [this.registry],
    collect: () => {
      this.requestBodyBytes.set(this.bodyBytesHeld());
    },
  });
  readonly timeToFirstToken = new Histogram({
    name: 'spool_time_to_first_token_seconds',
    help: 'From request arrival to the first content delta, by model.',
    labelNames: ['model'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly generationDuration = new Histogram({
    name: 'spool_generation_duration_seconds',
    help: 'From request arrival to the end of the generation, by model and outcome.',
    labelNames: ['model', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: 'spool_upstream_errors_total',
    help: 'Upstream failures, by provider and class (http status or transport error code).',
    labelNames: ['provider', 'class'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'spool_upstream_retries_total',
    help: 'Retries of an upstream before its first byte, by provider.',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly failovers = new Counter({
    name: 'spool_upstream_failovers_total',
    help: 'Requests moved to another provider, by from and to.',
    labelNames: ['from', 'to'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'spool_rate_limit_rejections_total',
    help: 'Requests refused by a rate limit, by reason (requests, tokens, concurrency).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly resumes = new Counter({
    name: 'spool_resumes_total',
    help: 'Streams resumed, by how (get, post).',
    labelNames: ['via'] as const,
    registers: [this.registry],
  });
  readonly replayDepth = new Histogram({
    name: 'spool_replay_depth_events',
    help: 'Events a resume replayed from the spool before tailing.',
    buckets: [0, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
    registers: [this.registry],
  });
  readonly spoolBytes = new Counter({
    name: 'spool_spooled_bytes_total',
    help: 'Event bytes written to the spool.',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'spool_process_' });
  }
}

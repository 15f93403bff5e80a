import type { ChatCompletionRequest, Usage } from '@spool/protocol';
import type { Caller } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { estimatePromptTokens, estimateRequestTokens } from '../limits/estimate-tokens.js';
import { NO_LEASE, type RateLimitLease, rateLimitError } from '../limits/rate-limiter.js';
import type { UsageOutcome } from '../usage/usage-record.js';

/** The headers of a request without limits: one shared object rather than one per stream. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** How a request ended, as far as accounting is concerned. */
export interface Settlement {
  outcome: UsageOutcome;
  /** The upstream's usage, when it reported one. */
  usage?: Usage | undefined;
  /** Content deltas seen, the completion estimate when no usage came. */
  contentDeltas?: number;
  provider?: string | undefined;
  streamId?: string | undefined;
  ttftMs?: number | null;
}

/**
 * One request's rate-limit lease and usage record: admitted (or refused with 429 and OpenAI's
 * headers) when it arrives, settled once when it ends — the token reservation reconciled to the
 * real usage, the concurrency slot released, and a usage record written.
 */
export class RequestAccount {
  readonly #startedAt = performance.now();
  #settled = false;

  private constructor(
    private readonly context: GatewayContext,
    private readonly keyId: string,
    private readonly model: string,
    /**
     * The prompt tokens charged when the upstream reports no usage, estimated on admission: the
     * request's messages are then not kept for as long as its stream is open (bench/memory).
     */
    private readonly estimatedPromptTokens: number,
    private readonly requestId: string,
    private readonly lease: RateLimitLease,
    /** OpenAI's `x-ratelimit-*` headers for the response. */
    readonly headers: Readonly<Record<string, string>>,
  ) {}

  /** Admits a chat request against its key's limits; a refusal is recorded and thrown as a 429. */
  static admit(
    context: GatewayContext,
    caller: Caller,
    body: ChatCompletionRequest,
    requestId: string,
  ): Promise<RequestAccount> {
    return RequestAccount.admitEstimated(context, caller, requestId, {
      model: body.model,
      promptTokens: () => estimatePromptTokens(body),
      reservedTokens: () => estimateRequestTokens(body),
    });
  }

  /**
   * Admits any request by its estimates: `promptTokens` is charged when the upstream reports no
   * usage, `reservedTokens` is held against a tokens-per-minute limit until the request settles.
   * Each is computed only when needed.
   */
  static async admitEstimated(
    context: GatewayContext,
    caller: Caller,
    requestId: string,
    estimate: { model: string; promptTokens: () => number; reservedTokens: () => number },
  ): Promise<RequestAccount> {
    const { model } = estimate;
    const hasLimits = Object.values(caller.limits).some((limit) => limit !== undefined);
    const admitted = (lease: RateLimitLease, headers: Readonly<Record<string, string>>) =>
      new RequestAccount(context, caller.id, model, estimate.promptTokens(), requestId, lease, headers);
    if (!hasLimits) return admitted(NO_LEASE, NO_HEADERS);
    const result = await context.limiter.acquire({
      keyId: caller.id,
      limits: caller.limits,
      estimatedTokens: estimate.reservedTokens(),
    });
    if (!result.allowed) {
      context.metrics.rateLimited.inc({ reason: result.reason });
      // A refused request is charged nothing, so its prompt is not estimated.
      new RequestAccount(context, caller.id, model, 0, requestId, NO_LEASE, result.headers).settle({
        outcome: 'rejected',
      });
      throw rateLimitError(result);
    }
    return admitted(result.lease, result.headers);
  }

  /** Settles the request once (later calls do nothing); never throws. */
  settle(settlement: Settlement): void {
    if (this.#settled) return;
    this.#settled = true;
    const promptTokens =
      settlement.usage?.prompt_tokens ?? (settlement.outcome === 'rejected' ? 0 : this.estimatedPromptTokens);
    const completionTokens = settlement.usage?.completion_tokens ?? settlement.contentDeltas ?? 0;
    const charged = settlement.outcome === 'rejected' ? 0 : promptTokens + completionTokens;
    try {
      this.lease.reconcile(charged);
    } finally {
      this.lease.release();
    }
    this.context.ledger
      .record({
        keyId: this.keyId,
        model: this.model,
        provider: settlement.provider ?? 'none',
        promptTokens,
        completionTokens,
        ttftMs: settlement.ttftMs ?? null,
        durationMs: Math.round(performance.now() - this.#startedAt),
        outcome: settlement.outcome,
        streamId: settlement.streamId,
        requestId: this.requestId,
      })
      .catch((error: unknown) =>
        this.context.log.error({ err: error, requestId: this.requestId }, 'could not record usage'),
      );
  }

  /** Milliseconds since the request arrived. */
  elapsedMs(): number {
    return performance.now() - this.#startedAt;
  }
}

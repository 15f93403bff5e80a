import type { ChatCompletionRequest, Usage } from '@spool/protocol';
import type { Caller } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { estimateRequestTokens } from '../limits/estimate-tokens.js';
import { NO_LEASE, type RateLimitLease, rateLimitError } from '../limits/rate-limiter.js';
import { estimatePromptTokens } from '../sim/sim-text.js';
import type { UsageOutcome } from '../usage/usage-record.js';

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
    private readonly caller: Caller,
    private readonly body: ChatCompletionRequest,
    private readonly requestId: string,
    private readonly lease: RateLimitLease,
    /** OpenAI's `x-ratelimit-*` headers for the response. */
    readonly headers: Readonly<Record<string, string>>,
  ) {}

  /** Admits a request against its key's limits; a refusal is recorded and thrown as a 429. */
  static async admit(
    context: GatewayContext,
    caller: Caller,
    body: ChatCompletionRequest,
    requestId: string,
  ): Promise<RequestAccount> {
    const hasLimits = Object.values(caller.limits).some((limit) => limit !== undefined);
    if (!hasLimits) return new RequestAccount(context, caller, body, requestId, NO_LEASE, {});
    const result = await context.limiter.acquire({
      keyId: caller.id,
      limits: caller.limits,
      estimatedTokens: estimateRequestTokens(body),
    });
    if (!result.allowed) {
      context.metrics.rateLimited.inc({ reason: result.reason });
      new RequestAccount(context, caller, body, requestId, NO_LEASE, result.headers).settle({
        outcome: 'rejected',
      });
      throw rateLimitError(result);
    }
    return new RequestAccount(context, caller, body, requestId, result.lease, result.headers);
  }

  /** A request that attached to a generation already accounted for: it holds nothing. */
  static attached(
    context: GatewayContext,
    caller: Caller,
    body: ChatCompletionRequest,
    requestId: string,
  ): RequestAccount {
    const account = new RequestAccount(context, caller, body, requestId, NO_LEASE, {});
    account.#settled = true;
    return account;
  }

  /** Settles the request once (later calls do nothing); never throws. */
  settle(settlement: Settlement): void {
    if (this.#settled) return;
    this.#settled = true;
    const promptTokens =
      settlement.usage?.prompt_tokens ??
      (settlement.outcome === 'rejected' ? 0 : estimatePromptTokens(this.body.messages));
    const completionTokens = settlement.usage?.completion_tokens ?? settlement.contentDeltas ?? 0;
    const charged = settlement.outcome === 'rejected' ? 0 : promptTokens + completionTokens;
    try {
      this.lease.reconcile(charged);
    } finally {
      this.lease.release();
    }
    this.context.ledger
      .record({
        keyId: this.caller.id,
        model: this.body.model,
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

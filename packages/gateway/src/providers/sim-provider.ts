import type { ChatCompletionRequest, ModelInfo } from '@spool/protocol';
import { FAULT_HEADER, normalizeErrorBody } from '@spool/protocol';
import { UpstreamError } from '../errors.js';
import { FaultBudget, type FaultSpec, FaultSpecError, parseFaultSpec } from '../faults/fault-spec.js';
import type { EmbeddingsRequest } from '../http/validate-embeddings-request.js';
import { simEmbeddings } from '../sim/sim-embeddings.js';
import { emitSimEvents, SimDropSignal, type SimPace, simChunks, simCompletion } from '../sim/sim-response.js';
import type { ChatProvider, CompletionResult, ProviderCallContext, UpstreamEvent } from './provider.js';

/** The models the sim lists; it answers any model name. */
export const SIM_MODELS = ['sim', 'sim-fast', 'sim-slow'] as const;

/** Options of the built-in simulator provider. */
export interface SimProviderOptions {
  /** The provider's name in the configuration. @default 'sim' */
  name?: string;
  /** Delay before the first event. @default 0 */
  ttftMs?: number;
  /** Tokens per second; 0 = as fast as possible. @default 0 */
  tokensPerSecond?: number;
}

/** Reads the fault header of a request, turning a malformed one into a 400. */
function faultSpecFromHeaders(headers: ProviderCallContext['headers']): FaultSpec {
  const raw = headers[FAULT_HEADER];
  try {
    return parseFaultSpec(Array.isArray(raw) ? raw.join(';') : raw);
  } catch (error) {
    if (error instanceof FaultSpecError) {
      throw UpstreamError.ofCode('invalid_request', error.message, { retryable: false });
    }
    throw error;
  }
}

/**
 * Reads a request's sim directives and decides its faults: a malformed header is a 400, a `times`
 * budget that is spent means no fault, and a `status=` fault is thrown as that error.
 * @returns the whole spec (its pacing applies always) and the faults that apply to this request.
 */
export function admitFaults(
  budget: FaultBudget,
  headers: ProviderCallContext['headers'],
): { spec: FaultSpec; faults: FaultSpec } {
  const spec = faultSpecFromHeaders(headers);
  const faults = budget.applies(spec) ? spec : {};
  if (faults.status !== undefined) throw simStatusError({ ...faults, status: faults.status });
  return { spec, faults };
}

/** Models whose name sets their own pace: `sim-fast` as fast as possible, `sim-slow` a sluggish upstream. */
const MODEL_PACES: Readonly<Record<string, SimPace>> = {
  'sim-fast': { ttftMs: 0, tokensPerSecond: 0 },
  'sim-slow': { ttftMs: 1500, tokensPerSecond: 8 },
};

/** The pace for one request: the model's or the provider's, overridden by the request's fault header. */
export function paceFor(defaults: SimPace, spec: FaultSpec, model?: string): SimPace {
  const base = (model !== undefined ? MODEL_PACES[model] : undefined) ?? defaults;
  return {
    ttftMs: spec.ttftMs ?? base.ttftMs,
    tokensPerSecond: spec.tokensPerSecond ?? base.tokensPerSecond,
  };
}

/** The error a `status=` fault answers with before the first byte. */
function simStatusError(spec: FaultSpec & { status: number }): UpstreamError {
  const body = normalizeErrorBody(
    spec.status,
    null,
    `Simulated upstream failure with status ${spec.status} (X-Spool-Fault)`,
  );
  body.error.code = 'sim_fault';
  // A fault the client asked for is aimed at the client: the gateway must not retry it away.
  return new UpstreamError(spec.status, body, {
    retryAfterSeconds: spec.retryAfterSeconds,
    retryable: false,
  });
}

/**
 * The built-in simulator as an in-process provider: deterministic text, configurable pace, and the
 * faults of the `X-Spool-Fault` header. A `drop-after` fault here fails the upstream hop (the
 * gateway sends the contract's error event), exactly as a real upstream dropping would.
 */
export class SimProvider implements ChatProvider {
  readonly name: string;
  readonly #pace: SimPace;
  readonly #budget = new FaultBudget();

  constructor(options: SimProviderOptions = {}) {
    this.name = options.name ?? 'sim';
    this.#pace = { ttftMs: options.ttftMs ?? 0, tokensPerSecond: options.tokensPerSecond ?? 0 };
  }

  async openStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<UpstreamEvent>> {
    const { spec, faults } = admitFaults(this.#budget, context.headers);
    const events = emitSimEvents(
      simChunks(request),
      paceFor(this.#pace, spec, request.model),
      faults,
      context.signal,
    );
    return mapDrops(events);
  }

  async complete(request: ChatCompletionRequest, context: ProviderCallContext): Promise<CompletionResult> {
    admitFaults(this.#budget, context.headers);
    return { body: simCompletion(request) };
  }

  async embeddings(request: EmbeddingsRequest, context: ProviderCallContext): Promise<CompletionResult> {
    admitFaults(this.#budget, context.headers);
    return { body: simEmbeddings(request) };
  }

  async listModels(): Promise<ModelInfo[]> {
    return SIM_MODELS.map((id) => ({ id, object: 'model', created: 0, owned_by: 'spool-sim' }));
  }

  async checkReady(): Promise<void> {}

  async close(): Promise<void> {}
}

async function* mapDrops(events: AsyncIterable<string>): AsyncGenerator<UpstreamEvent> {
  try {
    for await (const data of events) yield { data };
  } catch (error) {
    if (error instanceof SimDropSignal) {
      throw UpstreamError.ofCode(
        'upstream_error',
        `Upstream connection dropped mid-stream (${error.message})`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

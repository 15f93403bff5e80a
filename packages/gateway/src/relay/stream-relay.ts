import { errorBody, type OpenAIErrorBody } from '@spool/protocol';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import { NO_EVENTS, takeBuffered, type UpstreamEvent } from '../providers/provider.js';
import type { SpoolStore, StreamMeta } from '../spool/store.js';
import type { EventPolicy } from '../surfaces/surface.js';
import type { GenerationObserver } from './generation-observer.js';
import { SpoolBatch } from './spool-batch.js';

/** Why a generation was stopped by the gateway rather than by its upstream. */
export class StopReason extends Error {
  constructor(
    readonly kind: 'cancelled' | 'shutdown' | 'abandoned' | 'limit',
    message: string,
  ) {
    super(message);
    this.name = 'StopReason';
  }
}

interface LocalGeneration {
  readonly controller: AbortController;
  /** Runs whether or not anyone reads it: readers leaving never start the grace period. */
  readonly background: boolean;
  readers: number;
  graceTimer: NodeJS.Timeout | undefined;
  /** When `maxDurationMs` runs out (`performance.now()` time). */
  readonly deadline: number;
  readonly finished: Promise<void>;
}

/** What starting a stream needs. */
export interface StartInput {
  meta: StreamMeta;
  /** Drop usage-only chunks (choices: []) from the stream, after reporting them. */
  stripUsage?: boolean;
  observer?: GenerationObserver;
  /**
   * Generate to the end whether or not anyone reads (Responses' `background: true`), even with
   * `disconnectGraceMs` set. @default false
   */
  background?: boolean;
  /**
   * Resolve once the stream's record exists, before the upstream opens (Responses' `background:
   * true` is answered at once): an upstream that then refuses ends the stream with its error event
   * instead of rejecting `start`. @default false
   */
  detached?: boolean;
  /**
   * Resolve `start` (the caller commits its 200 and first bytes) once this many ms have passed
   * since admission without the upstream having answered: a client must not take a slow upstream
   * for a network that buffers the response. A refusal after that point is spooled as the stream's
   * error event, as one after its first byte is; before it, it still rejects `start`.
   * @default undefined: `start` waits for the upstream
   */
  commitWithinMs?: number | undefined;
  /** How the stream's surface encodes and ends its events. @default chat's */
  events?: EventPolicy;
  /**
   * Admits the request (key limits) before the upstream opens; a refusal rejects `start`, detached
   * or not. Not called when `start` attaches to an existing stream.
   */
  admit?(): Promise<void>;
  /** Opens the upstream; throws `GatewayError` when it refuses (before any byte). */
  open(signal: AbortSignal): Promise<AsyncIterable<UpstreamEvent>>;
}

/** The outcome of `start`. */
export type StartResult = { kind: 'started'; meta: StreamMeta } | { kind: 'attached'; meta: StreamMeta };

/** Options of the relay. */
export interface StreamRelayOptions {
  /** Stop generating this long after the last local reader left; null = run to completion. */
  disconnectGraceMs: number | null;
  /** Told the size of every event stored (for metrics). */
  onSpooled?: (bytes: number) => void;
  /** Longest a generation may run before it is stopped with `generation_limit_exceeded`. @default 1800000 (30 min) */
  maxDurationMs?: number | undefined;
  /** Most bytes a generation may spool before it is stopped with `generation_limit_exceeded`. @default 67108864 (64 MiB) */
  maxBytes?: number | undefined;
}

/** The relay's bounds on one generation when the options set none (config/schema.ts documents them). */
const DEFAULT_MAX_DURATION_MS = 30 * 60 * 1000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Runs generations into the spool: numbers every upstream event, stores its exact bytes, and
 * ends every stream with `[DONE]` or one error event, never silently short. Generation is
 * detached from the HTTP request that started it, so a dropped client can resume.
 */
export class StreamRelay {
  readonly #local = new Map<string, LocalGeneration>();
  readonly #store: SpoolStore;
  readonly #options: StreamRelayOptions;
  readonly #log: Logger;
  /**
   * One timer for every generation's `maxDurationMs`, armed for the earliest deadline: every
   * generation gets the same duration, so `#local` (in start order) is in deadline order too. One
   * number per stream instead of a Timeout per stream (bench/memory counts bytes per open stream).
   */
  #durationTimer: NodeJS.Timeout | undefined;

  constructor(store: SpoolStore, options: StreamRelayOptions, log: Logger) {
    this.#store = store;
    this.#options = options;
    this.#log = log;
    store.onCancelRequest((streamId) =>
      this.#stop(streamId, new StopReason('cancelled', 'Stream cancelled by DELETE /v1/streams/{id}.')),
    );
  }

  /** How many generations run in this process. */
  get activeCount(): number {
    return this.#local.size;
  }

  /**
   * Starts a generation, or attaches to the one already under the same idempotency key. Resolves
   * once the upstream has accepted (the caller may then commit its 200); rejects with the upstream's
   * error otherwise. A `detached` start resolves once the record exists and admission passed.
   */
  async start(input: StartInput): Promise<StartResult> {
    if (input.detached === true) return this.#startDetached(input);
    const streamId = input.meta.id;
    const controller = new AbortController();
    const creating = this.#store.create(input.meta);
    if (input.meta.idempotencyKey !== undefined) {
      const created = await creating;
      if (!created.created) return { kind: 'attached', meta: created.meta };
    }
    // Without an idempotency key nothing can attach to this stream, so its record is written while
    // the upstream opens rather than before: a shared store's round trip leaves the first token's path.
    // Without `admit` the upstream opens in this turn, as it always did (the chat path's first token).
    const admitted = input.admit?.();
    const opening = admitted
      ? admitted.then(() => input.open(controller.signal))
      : input.open(controller.signal);
    if (
      input.commitWithinMs !== undefined &&
      (await stillOpeningAfter(admitted, opening, input.commitWithinMs))
    ) {
      return this.#commitBeforeUpstream(input, controller, creating, opening);
    }
    const [created, opened] = await Promise.allSettled([creating, opening]);
    if (opened.status === 'rejected') {
      const gatewayError = asGatewayError(opened.reason);
      if (created.status === 'fulfilled') await this.#recordFailure(streamId, gatewayError);
      throw gatewayError;
    }
    const events = opened.value;
    if (created.status === 'rejected') {
      // The stream cannot be kept, so it is not served: the upstream is released before any byte.
      controller.abort(new StopReason('cancelled', 'The spool could not record the stream.'));
      await events[Symbol.asyncIterator]()
        .return?.()
        .catch(() => {});
      input.observer?.onEnd?.('error', { contentDeltas: 0 });
      throw created.reason;
    }
    await this.#store.commit(streamId);
    this.#run(input, controller, events);
    return { kind: 'started', meta: { ...input.meta, state: 'streaming' } };
  }

  /**
   * Commits a stream whose upstream has not answered yet (`commitWithinMs` ran out): the caller's
   * first bytes leave now, and the upstream's answer, a refusal included, is spooled when it comes.
   */
  async #commitBeforeUpstream(
    input: StartInput,
    controller: AbortController,
    creating: Promise<{ created: boolean }>,
    opening: Promise<AsyncIterable<UpstreamEvent>>,
  ): Promise<StartResult> {
    try {
      await creating;
    } catch (error) {
      // The stream cannot be kept, so it is not served: the upstream is released when it answers.
      controller.abort(new StopReason('cancelled', 'The spool could not record the stream.'));
      opening.then(
        (events) => events[Symbol.asyncIterator]().return?.(),
        () => {},
      );
      input.observer?.onEnd?.('error', { contentDeltas: 0 });
      throw error;
    }
    await this.#store.commit(input.meta.id);
    this.#run(input, controller, opening);
    return { kind: 'started', meta: { ...input.meta, state: 'streaming' } };
  }

  /**
   * The `detached` start: the record is written and committed before the upstream opens, so the
   * stream is served (and found) at once; the upstream's answer, a refusal included, is spooled.
   */
  async #startDetached(input: StartInput): Promise<StartResult> {
    const streamId = input.meta.id;
    const created = await this.#store.create(input.meta);
    if (!created.created) return { kind: 'attached', meta: created.meta };
    try {
      await input.admit?.();
    } catch (error) {
      const gatewayError = asGatewayError(error);
      await this.#recordFailure(streamId, gatewayError);
      throw gatewayError;
    }
    await this.#store.commit(streamId);
    const controller = new AbortController();
    // Registered before the upstream opens, so a cancel, the duration bound or a shutdown reaches it.
    this.#run(input, controller, input.open(controller.signal));
    return { kind: 'started', meta: { ...input.meta, state: 'streaming' } };
  }

  /** Registers a committed generation and pumps its events (a refused open is pumped as its error). */
  #run(
    input: StartInput,
    controller: AbortController,
    opening: AsyncIterable<UpstreamEvent> | Promise<AsyncIterable<UpstreamEvent>>,
  ): void {
    const streamId = input.meta.id;
    let resolveFinished = () => {};
    const generation: LocalGeneration = {
      controller,
      background: input.background === true,
      readers: 0,
      graceTimer: undefined,
      deadline: performance.now() + this.#maxDurationMs,
      finished: new Promise<void>((resolve) => {
        resolveFinished = resolve;
      }),
    };
    this.#local.set(streamId, generation);
    this.#armDurationTimer(generation.deadline);
    // Only what the generation uses is passed on: `input` (its meta, its `open` closure and what
    // that holds) is not kept for the life of the stream.
    const { stripUsage = false, observer = {}, events: policy } = input;
    const pump = (events: AsyncIterable<UpstreamEvent>) =>
      this.#pump(streamId, events, controller, stripUsage, observer, policy);
    // An upstream already open is pumped at once (the first token's path takes no extra turn).
    const pumping =
      opening instanceof Promise
        ? opening.then(pump, (error: unknown) => pump(refused(asGatewayError(error))))
        : pump(opening);
    void pumping.finally(() => {
      if (generation.graceTimer) clearTimeout(generation.graceTimer);
      this.#local.delete(streamId);
      resolveFinished();
    });
  }

  /** Records that a stream's upstream refused before it was committed (its readers get the error). */
  async #recordFailure(streamId: string, error: GatewayError): Promise<void> {
    await this.#store
      .fail(streamId, { status: error.status, body: error.body, retryAfterSeconds: error.retryAfterSeconds })
      .catch((storeError) =>
        this.#log.warn({ err: storeError, streamId }, 'could not record a failed start'),
      );
  }

  async #pump(
    streamId: string,
    events: AsyncIterable<UpstreamEvent>,
    controller: AbortController,
    stripUsage: boolean,
    observer: GenerationObserver,
    policy: EventPolicy | undefined,
  ): Promise<void> {
    const { signal } = controller;
    const maxBytes = this.#options.maxBytes ?? DEFAULT_MAX_BYTES;
    const batch = new SpoolBatch(
      this.#store,
      streamId,
      stripUsage,
      observer,
      this.#options.onSpooled,
      policy,
    );
    const iterator = events[Symbol.asyncIterator]();
    let pulling = true;
    try {
      let ended = false;
      while (!ended) {
        let result: IteratorResult<UpstreamEvent> | undefined = await iterator.next();
        if (result.done) {
          pulling = false;
          break;
        }
        // Until the first token, events are taken one at a time, so that the first token is stored
        // and written before the rest of its read is normalized and encoded (a fast upstream
        // sends a whole answer in one read: bench/relay's sim-fast, 56 events, ~60 µs of them).
        const beforeFirstToken = batch.contentDeltas === 0;
        ended = batch.take(result.value, beforeFirstToken ? NO_EVENTS : takeBuffered(iterator));
        // Not kept by this frame while it waits for the next read: the event's data is a slice of
        // the whole read it came in.
        result = undefined;
        const storing = batch.store();
        if (storing !== undefined) await storing;
        // A turn of the event loop, in which the request that started the stream commits its
        // response and its reader writes what is stored (its TurnWriter flushes at setImmediate).
        if (beforeFirstToken && batch.contentDeltas > 0 && !ended) await nextTurn();
        if (!ended && batch.spooledBytes > maxBytes) {
          // Aborted rather than only thrown: the upstream connection is closed at once, not drained.
          controller.abort(
            new StopReason(
              'limit',
              `The generation spooled more than ${maxBytes} bytes (generation.maxBytes) and was stopped.`,
            ),
          );
          throw signal.reason;
        }
      }
      if (!ended) {
        if (signal.aborted) throw signal.reason;
        // A stream that reached its finish (chat: a finish_reason) but lost only its terminal event
        // is complete; anything else ending early is a truncation and must say so.
        if (batch.sawFinish) {
          const { data, event } = batch.policy.completion();
          batch.queue(data, event);
        } else {
          batch.state = 'error';
          const { data, event } = batch.policy.errorEvent(
            errorBody(
              'upstream_error',
              'The upstream ended the stream before it finished (no finish_reason, no [DONE]).',
            ),
          );
          batch.queue(data, event);
        }
        await batch.store();
      }
    } catch (error) {
      const { body, outcome } = describeStop(error, signal);
      batch.state = outcome;
      if (outcome === 'error') this.#log.warn({ err: error, streamId }, 'stream failed mid-way');
      batch.dropUnstored();
      const final = batch.policy.errorEvent(body);
      batch.queue(final.data, final.event);
      try {
        await batch.store();
      } catch (storeError) {
        this.#log.error({ err: storeError, streamId }, 'could not store the final error event');
      }
    } finally {
      // Stopping before the upstream ended (a [DONE] seen, an error, a Stop) releases it, as a
      // `break` out of for-await would.
      if (pulling) await iterator.return?.().catch(() => {});
      observer.onEnd?.(batch.state, { contentDeltas: batch.contentDeltas });
      await this.#store
        .finish(streamId, batch.state)
        .catch((storeError) =>
          this.#log.error({ err: storeError, streamId }, 'could not mark the stream finished'),
        );
    }
  }

  get #maxDurationMs(): number {
    return this.#options.maxDurationMs ?? DEFAULT_MAX_DURATION_MS;
  }

  /** Arms the duration timer for `deadline` unless it is armed already (for an earlier one). */
  #armDurationTimer(deadline: number): void {
    if (this.#durationTimer !== undefined) return;
    this.#durationTimer = setTimeout(this.#onDurationTimer, Math.max(0, deadline - performance.now()));
    this.#durationTimer.unref();
  }

  /** Stops the generations whose deadline has passed, then arms the timer for the next one. */
  readonly #onDurationTimer = (): void => {
    this.#durationTimer = undefined;
    const now = performance.now();
    for (const generation of this.#local.values()) {
      if (generation.deadline > now) {
        this.#armDurationTimer(generation.deadline);
        return;
      }
      // A generation stopped already is left to finish (it is removed from `#local` when it has).
      if (!generation.controller.signal.aborted) {
        generation.controller.abort(
          new StopReason(
            'limit',
            `The generation ran longer than ${this.#maxDurationMs} ms (generation.maxDurationMs) and was stopped.`,
          ),
        );
      }
    }
  };

  /** Records that a reader of this instance started reading a stream generated here. */
  readerAttached(streamId: string): void {
    const generation = this.#local.get(streamId);
    if (!generation) return;
    generation.readers++;
    if (generation.graceTimer) {
      clearTimeout(generation.graceTimer);
      generation.graceTimer = undefined;
    }
  }

  /** Records that a reader left; with a grace period set, the last one leaving starts its clock. */
  readerDetached(streamId: string): void {
    const generation = this.#local.get(streamId);
    if (!generation) return;
    generation.readers = Math.max(0, generation.readers - 1);
    const graceMs = this.#options.disconnectGraceMs;
    if (generation.readers > 0 || graceMs === null || generation.graceTimer || generation.background) return;
    generation.graceTimer = setTimeout(() => {
      this.#stop(
        streamId,
        new StopReason('abandoned', `No reader came back within ${graceMs} ms (spool.disconnectGraceMs).`),
      );
    }, graceMs);
    generation.graceTimer.unref();
  }

  /** Whether this instance generates the stream. */
  isLocal(streamId: string): boolean {
    return this.#local.has(streamId);
  }

  #stop(streamId: string, reason: StopReason): void {
    this.#local.get(streamId)?.controller.abort(reason);
  }

  /**
   * Waits up to `graceMs` for the generations of this instance to finish, then stops the rest
   * with a final error event so their readers know the stream ended early.
   */
  async drain(graceMs: number): Promise<void> {
    const all = () => Promise.all([...this.#local.values()].map((generation) => generation.finished));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!timedOut) return;
    for (const streamId of this.#local.keys()) {
      this.#stop(streamId, new StopReason('shutdown', 'The gateway shut down before this stream finished.'));
    }
    await all();
  }
}

/**
 * Whether `opening` is still unsettled `ms` after `admitted` resolved (at once without admission);
 * `false` as soon as either settles first or admission is refused.
 */
function stillOpeningAfter(
  admitted: Promise<void> | undefined,
  opening: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const answered = opening.then(
    () => false,
    () => false,
  );
  const late = (admitted ?? Promise.resolve()).then(
    () =>
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), ms);
      }),
    () => false,
  );
  return Promise.race([answered, late]).finally(() => clearTimeout(timer));
}

/**
 * Resolves in the next turn of the event loop: after the immediates queued in this one, among
 * them the reader's TurnWriter flush that sends what was stored to the client.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/** The error a failed start answers with: a `GatewayError` as it is, anything else as an internal error. */
function asGatewayError(error: unknown): GatewayError {
  return error instanceof GatewayError
    ? error
    : GatewayError.of('internal_error', 'The gateway failed to open the upstream stream.', { cause: error });
}

/** The events of an upstream that refused after the stream was committed: its refusal, thrown on the first read. */
function refused(error: GatewayError): AsyncIterable<UpstreamEvent> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.reject(error),
    }),
  };
}

function describeStop(
  error: unknown,
  signal: AbortSignal,
): { body: OpenAIErrorBody; outcome: 'error' | 'cancelled' } {
  const reason = signal.aborted ? signal.reason : error;
  if (reason instanceof StopReason) {
    // A shutdown cut the stream short (an error a client may resume elsewhere); a Stop or an
    // abandoned stream ended because nobody wants the rest.
    if (reason.kind === 'shutdown')
      return { body: errorBody('shutting_down', reason.message), outcome: 'error' };
    if (reason.kind === 'limit')
      return { body: errorBody('generation_limit_exceeded', reason.message), outcome: 'error' };
    return { body: errorBody('stream_cancelled', reason.message), outcome: 'cancelled' };
  }
  if (error instanceof GatewayError) return { body: error.body, outcome: 'error' };
  return { body: errorBody('upstream_error', 'The upstream stream failed unexpectedly.'), outcome: 'error' };
}

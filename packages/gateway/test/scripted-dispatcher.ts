import type { Dispatcher } from 'undici';
import { toUpstreamError } from '../src/providers/openai-provider.js';
import type { UpstreamEvent } from '../src/providers/provider.js';
import { requestSse } from '../src/providers/sse-request.js';

/** Splits `bytes` at the `cuts` (each taken modulo the length + 1), in order, without empty pieces. */
export function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let previous = 0;
  for (const point of points) {
    if (point > previous) chunks.push(bytes.subarray(previous, point));
    previous = point;
  }
  if (previous < bytes.length) chunks.push(bytes.subarray(previous));
  return chunks;
}

/** One turn of the event loop (no timer: tests never sleep). */
export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A controller like undici's: the driver stops pushing while paused, and stops for good once aborted. */
export class ScriptedController {
  paused = false;
  aborted = false;
  reason: Error | null = null;
  rawHeaders = null;
  rawTrailers = null;
  constructor(private readonly onAbort: (reason: Error) => void) {}
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    // undici reports the abort to the handler after the call returns.
    queueMicrotask(() => this.onAbort(reason));
  }
}

/** An upstream SSE response read by `requestSse` as undici would drive it, fed by the test. */
export interface ScriptedSse {
  /** The events `requestSse` parses (the upstream reader's input). */
  events: AsyncIterator<UpstreamEvent>;
  controller: ScriptedController;
  /**
   * Pushes `chunks` as undici would (never while paused, nothing once aborted), then ends the body.
   * Resolves false when it stopped on a deadlock: `waiting()` said the consumer waits for an event
   * while the socket is paused.
   */
  push(chunks: readonly Buffer[], waiting: () => boolean): Promise<boolean>;
}

/** Opens a scripted SSE response through `requestSse`, with `maxEventBytes` as the event bound. */
export async function openScriptedSse(maxEventBytes: number): Promise<ScriptedSse> {
  let handler: Dispatcher.DispatchHandler | undefined;
  const controller = new ScriptedController((reason) =>
    handler?.onResponseError?.(controller as never, reason),
  );
  const dispatcher = {
    dispatch(_options: unknown, dispatchHandler: Dispatcher.DispatchHandler) {
      handler = dispatchHandler;
      handler.onRequestStart?.(controller as never, {});
      queueMicrotask(() =>
        handler?.onResponseStart?.(controller as never, 200, { 'content-type': 'text/event-stream' }, 'OK'),
      );
      return true;
    },
  } as unknown as Dispatcher;
  const response = await requestSse(
    dispatcher,
    { method: 'POST', path: '/', signal: new AbortController().signal, maxEventBytes },
    (error) => toUpstreamError(error, 'fuzz'),
  );
  if (response.kind !== 'events') throw new Error('expected events');
  const push = async (chunks: readonly Buffer[], waiting: () => boolean): Promise<boolean> => {
    for (const chunk of chunks) {
      while (controller.paused && !controller.aborted) {
        await tick();
        if (controller.paused && waiting()) return false;
      }
      if (controller.aborted) return true;
      handler?.onResponseData?.(controller as never, chunk);
      await tick();
    }
    if (!controller.aborted) handler?.onResponseEnd?.(controller as never, {});
    return true;
  };
  return { events: response.events[Symbol.asyncIterator](), controller, push };
}

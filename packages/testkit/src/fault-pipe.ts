import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type ByteTrigger, type DirectionPlan, splitChunk, throttleStep } from './fault-plan.js';
import type { Direction } from './faults.js';

/** Bytes held for a delay, throttle or stall before the source is paused (backpressure). */
const QUEUE_HIGH_WATER_BYTES = 64 * 1024;

type QueueItem =
  | { kind: 'data'; bytes: Buffer; readyAtMs: number }
  | { kind: 'trigger'; trigger: ByteTrigger }
  | { kind: 'end' };

/** What a pipe reports to the connection that owns it. */
export interface FaultPipeHooks {
  /** Bytes were handed to the sink. */
  forwarded(bytes: number): void;
  /** A cut was reached: the bytes before it are already written; the owner tears the connection down. */
  cut(atBytes: number): void;
  /** Forwarding stopped at a stall. */
  stalled(atBytes: number, forMs: number | undefined): void;
  /** Forwarding resumed after a timed stall. */
  resumed(atBytes: number): void;
}

/**
 * One direction of a proxied connection: reads the source, applies the direction's faults, writes
 * the sink, and pauses the source whenever the sink or its own queue is full.
 */
export class FaultPipe {
  /** Bytes read from the source. */
  receivedBytes = 0;
  /** Bytes written to the sink. */
  forwardedBytes = 0;
  /** Writes made to the sink (a throttle turns one chunk into many). */
  writes = 0;
  /** The source has ended (FIN) and that end was queued. */
  sourceEnded = false;

  /** Bytes read but not yet written (held by a delay, throttle or stall). */
  queuedBytes = 0;

  private readonly queue: QueueItem[] = [];
  private nextTrigger = 0;
  private nextSendAtMs = 0;
  private stalledNow = false;
  private waitingForDrain = false;
  private aborted = false;
  private pumpTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly direction: Direction,
    private readonly source: Socket,
    private readonly sink: Socket,
    private readonly plan: DirectionPlan,
    private readonly hooks: FaultPipeHooks,
  ) {}

  /** Starts reading; triggers at byte 0 fire before anything is forwarded. */
  start(): void {
    this.enqueue(Buffer.alloc(0));
    this.source.on('data', (chunk: Buffer) => this.enqueue(chunk));
    this.source.on('end', () => {
      this.sourceEnded = true;
      this.push({ kind: 'end' });
    });
    this.sink.on('drain', () => {
      this.waitingForDrain = false;
      this.pump();
    });
    this.pump();
  }

  /** Stops for good: drops what is queued, clears timers, and lets the source drain into nothing. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    clearTimeout(this.pumpTimer);
    clearTimeout(this.stallTimer);
    this.pumpTimer = undefined;
    this.stallTimer = undefined;
    if (!this.source.destroyed) this.source.resume();
  }

  private enqueue(chunk: Buffer): void {
    if (this.aborted) return;
    const readyAtMs = performance.now() + this.plan.delayMs;
    const split = splitChunk(this.receivedBytes, chunk.length, this.plan.triggers, this.nextTrigger);
    this.nextTrigger = split.nextTrigger;
    this.receivedBytes += chunk.length;
    for (const part of split.parts) {
      if (part.kind === 'trigger') this.queue.push(part);
      else {
        this.queue.push({ kind: 'data', bytes: chunk.subarray(part.start, part.end), readyAtMs });
        this.queuedBytes += part.end - part.start;
      }
    }
    this.pump();
  }

  private push(item: QueueItem): void {
    if (this.aborted) return;
    this.queue.push(item);
    this.pump();
  }

  private pump(): void {
    while (!this.aborted && !this.stalledNow && !this.waitingForDrain && this.pumpTimer === undefined) {
      const head = this.queue[0];
      if (head === undefined) break;
      if (head.kind === 'end') {
        this.queue.shift();
        if (!this.sink.destroyed) this.sink.end();
        break;
      }
      if (head.kind === 'trigger') {
        this.queue.shift();
        this.fire(head.trigger);
        continue;
      }
      const nowMs = performance.now();
      if (head.readyAtMs > nowMs) {
        this.wakeAfter(head.readyAtMs - nowMs);
        break;
      }
      let slice = head.bytes;
      if (this.plan.bytesPerSecond !== undefined) {
        const step = throttleStep({
          nowMs,
          nextSendAtMs: this.nextSendAtMs,
          bytesPerSecond: this.plan.bytesPerSecond,
          pendingBytes: head.bytes.length,
        });
        if (step.waitMs > 0) {
          this.wakeAfter(step.waitMs);
          break;
        }
        this.nextSendAtMs = step.nextSendAtMs;
        slice = head.bytes.subarray(0, step.sliceBytes);
      }
      if (slice.length === head.bytes.length) this.queue.shift();
      else head.bytes = head.bytes.subarray(slice.length);
      this.write(slice);
    }
    this.updateFlow();
  }

  private write(bytes: Buffer): void {
    this.queuedBytes -= bytes.length;
    if (this.sink.destroyed) return;
    this.forwardedBytes += bytes.length;
    this.writes += 1;
    this.hooks.forwarded(bytes.length);
    if (!this.sink.write(bytes)) this.waitingForDrain = true;
  }

  private fire(trigger: ByteTrigger): void {
    if (trigger.action === 'cut') {
      this.hooks.cut(trigger.atBytes);
      return;
    }
    this.stalledNow = true;
    this.hooks.stalled(trigger.atBytes, trigger.forMs);
    if (trigger.forMs === undefined) return;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      this.stalledNow = false;
      this.hooks.resumed(trigger.atBytes);
      this.pump();
    }, trigger.forMs);
  }

  private wakeAfter(waitMs: number): void {
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = undefined;
      this.pump();
    }, Math.ceil(waitMs));
  }

  private updateFlow(): void {
    if (this.aborted || this.source.destroyed) return;
    const hold = this.stalledNow || this.waitingForDrain || this.queuedBytes >= QUEUE_HIGH_WATER_BYTES;
    if (hold) this.source.pause();
    else this.source.resume();
  }
}

import { connect, type Socket } from 'node:net';
import { FaultPipe, type FaultPipeHooks } from './fault-pipe.js';
import type { ConnectionPlan } from './fault-plan.js';
import type { Direction } from './faults.js';
import type { ProxyEvent } from './proxy-events.js';

/** What the proxy knows about one connection, live while it is open. */
export interface ConnectionStats {
  /** 0-based order in which the proxy accepted the connection. */
  index: number;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** The faults planned for it, described (`cutAfterBytes(37, down)`). */
  faults: string[];
  /** Bytes forwarded client → target. */
  bytesUp: number;
  /** Bytes forwarded target → client. */
  bytesDown: number;
  /** Writes made towards the target (a throttle or a trigger splits chunks). */
  writesUp: number;
  /** Writes made towards the client. */
  writesDown: number;
  /** Bytes held by the proxy towards the target now (its queue and socket buffer). */
  readonly bufferedUp: number;
  /** Bytes held by the proxy towards the client now; bounded while backpressure works. */
  readonly bufferedDown: number;
  stalls: number;
  cut: boolean;
  refused: boolean;
  closed: boolean;
}

/** How a connection reports to its proxy. */
export interface ConnectionHooks {
  emit(event: ProxyEvent): void;
  forwarded(direction: Direction, bytes: number): void;
}

/** Target address of a proxied connection. */
export interface TargetAddress {
  host: string;
  port: number;
}

/** One client connection and its upstream socket, with a {@link FaultPipe} each way. */
export class ProxyConnection {
  readonly closed: Promise<void>;
  private upstream: Socket | undefined;
  private readonly pipes: FaultPipe[] = [];
  private readonly openSockets = new Set<Socket>();
  private resolveClosed: () => void = () => {};
  private cutting = false;

  constructor(
    readonly stats: ConnectionStats,
    private readonly client: Socket,
    private readonly target: TargetAddress,
    private readonly plan: ConnectionPlan,
    private readonly hooks: ConnectionHooks,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    Object.defineProperties(stats, {
      bufferedUp: { enumerable: true, get: () => this.buffered('up') },
      bufferedDown: { enumerable: true, get: () => this.buffered('down') },
    });
  }

  private buffered(direction: Direction): number {
    const pipe = this.pipes.find((candidate) => candidate.direction === direction);
    const sink = direction === 'up' ? this.upstream : this.client;
    return (pipe?.queuedBytes ?? 0) + (sink?.writableLength ?? 0);
  }

  /** Refuses, or dials the target and starts both pipes. */
  start(): void {
    const { index } = this.stats;
    this.hooks.emit({
      type: 'connection',
      index,
      remoteAddress: this.stats.remoteAddress,
      remotePort: this.stats.remotePort,
      faults: this.stats.faults,
    });
    this.track(this.client);
    if (this.plan.refuse) {
      this.stats.refused = true;
      this.hooks.emit({ type: 'refuse', index });
      this.client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    this.upstream = upstream;
    this.track(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
    });
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected) {
        this.hooks.emit({ type: 'upstream-error', index, message: error.message, code: error.code });
      }
    });
    const up = new FaultPipe('up', this.client, upstream, this.plan.up, this.pipeHooks('up'));
    const down = new FaultPipe('down', upstream, this.client, this.plan.down, this.pipeHooks('down'));
    this.pipes.push(up, down);
    this.client.on('close', () => this.socketClosed(up, down));
    upstream.on('close', () => this.socketClosed(down, up));
    up.start();
    down.start();
  }

  /** Destroys both sockets at once, dropping whatever is queued. */
  destroy(): void {
    for (const pipe of this.pipes) pipe.abort();
    this.client.destroy();
    this.upstream?.destroy();
  }

  private track(socket: Socket): void {
    this.openSockets.add(socket);
    // A reset from either peer tears the pair down; the listener also keeps the error from crashing.
    socket.on('error', () => this.destroy());
    socket.once('close', () => {
      this.openSockets.delete(socket);
      if (this.openSockets.size === 0) this.finish();
    });
  }

  // A socket closing ends the pipe that writes to it; if it closed before its own end-of-stream
  // (destroyed, not half-closed), the peer gets the same treatment.
  private socketClosed(readingPipe: FaultPipe, writingPipe: FaultPipe): void {
    if (this.cutting) return;
    writingPipe.abort();
    if (!readingPipe.sourceEnded) this.destroy();
  }

  private pipeHooks(direction: Direction): FaultPipeHooks {
    const index = this.stats.index;
    return {
      forwarded: (bytes) => {
        if (direction === 'up') this.stats.bytesUp += bytes;
        else this.stats.bytesDown += bytes;
        if (direction === 'up') this.stats.writesUp += 1;
        else this.stats.writesDown += 1;
        this.hooks.forwarded(direction, bytes);
      },
      cut: (atBytes) => {
        this.stats.cut = true;
        this.hooks.emit({ type: 'cut', index, direction, afterBytes: atBytes });
        this.cut(direction);
      },
      stalled: (atBytes, forMs) => {
        this.stats.stalls += 1;
        this.hooks.emit({ type: 'stall', index, direction, afterBytes: atBytes, forMs });
      },
      resumed: (atBytes) => this.hooks.emit({ type: 'resume', index, direction, afterBytes: atBytes }),
    };
  }

  // The side that was receiving gets the bytes already written, then end-of-stream, then is
  // destroyed; destroying it before the flush would drop those bytes and move the cut.
  private cut(direction: Direction): void {
    this.cutting = true;
    for (const pipe of this.pipes) pipe.abort();
    const receiver = direction === 'down' ? this.client : this.upstream;
    const other = direction === 'down' ? this.upstream : this.client;
    other?.destroy();
    if (receiver === undefined || receiver.destroyed) return;
    if (receiver.writableFinished) {
      receiver.destroy();
      return;
    }
    receiver.once('finish', () => receiver.destroy());
    receiver.end();
  }

  private finish(): void {
    if (this.stats.closed) return;
    this.stats.closed = true;
    for (const pipe of this.pipes) pipe.abort();
    this.hooks.emit({
      type: 'close',
      index: this.stats.index,
      bytesUp: this.stats.bytesUp,
      bytesDown: this.stats.bytesDown,
    });
    this.resolveClosed();
  }
}

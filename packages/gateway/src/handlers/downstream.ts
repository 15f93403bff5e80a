import type { ServerResponse } from 'node:http';
import { type HeartbeatScheduler, TurnWriter, waitForDrain } from '../relay/sse-writer.js';

/** What a {@link Downstream} tells the stream it serves once a batch is written. */
export interface ServedReader {
  /** The client has room: read the next batch. */
  pull(): void;
  /** Stop reading and end the response; `error` is what failed, when something did. */
  stopReading(error?: unknown): void;
}

/**
 * Where a served stream writes its batches of spooled events: the client's connection, or a
 * wrapper around it (fault injection's, `faults/downstream-faults.ts`). Serving knows only this.
 */
export interface Downstream {
  /** Writes one batch of whole events, then tells `reader` to pull the next or to stop. */
  write(batch: string, reader: ServedReader): void;
}

/** Wraps the client connection of one served stream: how a request's fault is composed in. */
export type DownstreamWrapper = (connection: ClientConnection) => Downstream;

/** The wrapper a stream is served through unless one is given: the connection itself. */
export const UNWRAPPED: DownstreamWrapper = (connection) => connection;

/**
 * One client's event-stream response as serving writes to it: batches at the pace the client reads
 * (a full socket pauses the reader; `slowClientTimeoutMs` cuts a client that reads nothing), what
 * one turn of the event loop writes leaving as one chunk, and comment heartbeats while it is idle.
 */
export class ClientConnection implements Downstream {
  readonly response: ServerResponse;
  readonly #writer: TurnWriter;
  readonly #heartbeat: { touch(): void; stop(): void };
  readonly #slowClientTimeoutMs: number;

  constructor(response: ServerResponse, heartbeats: HeartbeatScheduler, slowClientTimeoutMs: number) {
    this.response = response;
    this.#writer = new TurnWriter(response);
    this.#heartbeat = heartbeats.watch(response);
    this.#slowClientTimeoutMs = slowClientTimeoutMs;
  }

  write(batch: string, reader: ServedReader): void {
    this.#heartbeat.touch();
    if (this.#writer.write(batch)) {
      reader.pull();
      return;
    }
    waitForDrain(this.response, this.#slowClientTimeoutMs).then(
      (drained) => (drained ? reader.pull() : reader.stopReading()),
      (error: unknown) => reader.stopReading(error),
    );
  }

  /** Queues bytes that are not spooled events (the retry hint, a read error): this turn, unpaced. */
  send(text: string): void {
    this.#writer.write(text);
  }

  /** Writes what is queued now; `onWritten` is called once those bytes reached the socket. */
  flush(onWritten?: () => void): void {
    this.#writer.flush(onWritten);
  }

  /** Stops the heartbeats, for good. */
  silence(): void {
    this.#heartbeat.stop();
  }

  /** Writes what is queued and ends the response. */
  end(): void {
    this.flush();
    if (!this.response.writableEnded) this.response.end();
  }
}

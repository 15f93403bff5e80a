/** Measurements of one stream, readable at any time. */
export interface StreamStats {
  /** When the stream was started (epoch ms). */
  startedAt: number;
  /** From start to the first content token, in ms; `undefined` until one arrives. */
  timeToFirstTokenMs: number | undefined;
  /** Content deltas received (each counts as one token). */
  tokens: number;
  /** Tokens per second from the first token to the latest one (0 until two have arrived). */
  tokensPerSecond: number;
  /** Reconnection attempts made. */
  reconnects: number;
  /** Response body bytes received, replays included. */
  bytes: number;
  /** Events delivered to the caller (duplicates from replays excluded). */
  events: number;
  /** Time spent disconnected: from each failure until the next connection opened, in ms. */
  stallMs: number;
  /** The stream is read by long-poll (a buffering network was detected or remembered). */
  longPoll: boolean;
}

/** Accumulates {@link StreamStats} from engine callbacks; pure given its clock. */
export class StatsRecorder {
  // `declare`d (the constructor sets them; unset means undefined): bundlers targeting ES2020 turn each
  // field declaration into a helper call (bench/client-size).
  declare private now: () => number;
  declare private firstTokenAt: number | undefined;
  declare private lastTokenAt: number | undefined;
  declare private stallStartedAt: number | undefined;
  declare private stats: StreamStats;

  constructor(now: () => number = Date.now) {
    this.now = now;
    this.stats = {
      startedAt: now(),
      timeToFirstTokenMs: undefined,
      tokens: 0,
      tokensPerSecond: 0,
      reconnects: 0,
      bytes: 0,
      events: 0,
      stallMs: 0,
      longPoll: false,
    };
  }

  /** A snapshot of the numbers so far. */
  snapshot(): StreamStats {
    const stats = { ...this.stats };
    if (this.stallStartedAt !== undefined) stats.stallMs += this.now() - this.stallStartedAt;
    return stats;
  }

  /** Counts received body bytes. */
  addBytes(byteLength: number): void {
    this.stats.bytes += byteLength;
  }

  /** Counts one delivered event. */
  addEvent(): void {
    this.stats.events += 1;
  }

  /** Counts one content token. */
  addToken(): void {
    const now = this.now();
    if (this.firstTokenAt === undefined) {
      this.firstTokenAt = now;
      this.stats.timeToFirstTokenMs = now - this.stats.startedAt;
    }
    this.lastTokenAt = now;
    this.stats.tokens += 1;
    const seconds = (this.lastTokenAt - this.firstTokenAt) / 1000;
    this.stats.tokensPerSecond = seconds > 0 ? (this.stats.tokens - 1) / seconds : 0;
  }

  /** A connection failed: stall time runs until {@link connected}. */
  disconnected(): void {
    if (this.stallStartedAt === undefined) this.stallStartedAt = this.now();
  }

  /** The stream switched to long-poll reads. */
  fellBackToLongPoll(): void {
    this.stats.longPoll = true;
  }

  /** A reconnection attempt starts. */
  reconnecting(): void {
    this.stats.reconnects += 1;
  }

  /** The stream ended (done, failed or cancelled): stall time stops counting. */
  finished(): void {
    this.connected();
  }

  /** A connection opened: stall time stops. */
  connected(): void {
    if (this.stallStartedAt === undefined) return;
    this.stats.stallMs += this.now() - this.stallStartedAt;
    this.stallStartedAt = undefined;
  }
}

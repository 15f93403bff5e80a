import type { ChatStreamEvent, StreamStats } from '@spool/client';

/** What the status line shows. */
export type StatusView =
  | { phase: 'connecting'; target: string }
  | { phase: 'waiting'; tokens: number }
  | { phase: 'streaming'; tokens: number }
  | { phase: 'reconnecting'; attempt: number; retryAtMs: number; reason: string; tokens: number }
  | { phase: 'resumed'; fromEventId: number; tokens: number };

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'] as const;

/** The status line's text for `view` at `nowMs`, with spinner frame `frame`. */
export function formatStatusLine(view: StatusView, nowMs: number, frame: number): string {
  const spinner = SPINNER[frame % SPINNER.length] as string;
  const tokens = (count: number) => (count === 1 ? '1 token' : `${count} tokens`);
  switch (view.phase) {
    case 'connecting':
      return `${spinner} connecting to ${view.target}`;
    case 'waiting':
      return `${spinner} connected, waiting for the first token`;
    case 'streaming':
      return `${spinner} streaming · ${tokens(view.tokens)}`;
    case 'reconnecting': {
      const seconds = (Math.max(0, view.retryAtMs - nowMs) / 1000).toFixed(1);
      return `${spinner} reconnecting in ${seconds}s (attempt ${view.attempt}) · ${view.reason}`;
    }
    case 'resumed':
      return `${spinner} resumed from event ${view.fromEventId} · ${tokens(view.tokens)}`;
  }
}

/** The status line after `event`; `tokens` counts the text deltas of the answer shown so far. */
export function nextStatusView(
  view: StatusView,
  event: ChatStreamEvent,
  nowMs: number,
  tokens: number,
): StatusView {
  switch (event.type) {
    case 'open':
      return { phase: 'waiting', tokens };
    case 'text-delta':
      // A resumed note stays up until the next status change, so it can be read.
      return view.phase === 'resumed' ? { ...view, tokens } : { phase: 'streaming', tokens };
    case 'reconnecting':
      return {
        phase: 'reconnecting',
        attempt: event.attempt,
        retryAtMs: nowMs + event.delayMs,
        reason: event.reason.code,
        tokens,
      };
    case 'resumed':
      return { phase: 'resumed', fromEventId: event.fromEventId, tokens };
    case 'restarted':
      return { phase: 'waiting', tokens: 0 };
    default:
      return view;
  }
}

/** One line of stats: time to first token, tokens/s, reconnects, bytes, stall time. */
export function formatStats(stats: StreamStats): string {
  const ttft = stats.timeToFirstTokenMs === undefined ? '–' : `${Math.round(stats.timeToFirstTokenMs)} ms`;
  const reconnects = stats.reconnects === 1 ? '1 reconnect' : `${stats.reconnects} reconnects`;
  return (
    `time to first token ${ttft} · ${stats.tokensPerSecond.toFixed(1)} tokens/s · ${stats.tokens} tokens · ` +
    `${reconnects} · ${formatBytes(stats.bytes)} · stall ${Math.round(stats.stallMs)} ms`
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The ANSI sequence that erases `screen` (text written since the answer began, cursor at its end)
 * from a terminal `columns` wide: back to its first row, then clear to the end of the screen.
 * Widths count code points, so wide characters can leave a row behind; the bytes on stdout are what matter.
 */
export function eraseSequence(screen: string, columns: number): string {
  const width = Math.max(1, columns);
  let rows = 0;
  for (const line of screen.split('\n')) rows += Math.max(1, Math.ceil([...line].length / width));
  return `\r${rows > 1 ? `\x1b[${rows - 1}A` : ''}\x1b[J`;
}

/** The part of the terminal the status line draws on. */
export interface StatusLineTerminal {
  stderr: (text: string) => void;
  /** Terminal width, to keep the status line on one row. */
  columns: number;
  now: () => number;
}

/**
 * The status line on stderr, redrawn in place. While the answer is mid-line on the same terminal it
 * is drawn on the row below and the cursor is put back at the answer's end when it is cleared, so
 * the answer goes on where it stopped: a line break there would stay in the answer for good.
 */
export class StatusLine {
  #view: StatusView;
  #frame = 0;
  #visible = false;
  /** Drawn below a mid-line answer, with the cursor saved on that row at the answer's column. */
  #below = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly io: StatusLineTerminal,
    private readonly enabled: boolean,
    view: StatusView,
  ) {
    this.#view = view;
  }

  get view(): StatusView {
    return this.#view;
  }

  start(): void {
    if (!this.enabled) return;
    this.#timer = setInterval(() => {
      if (this.#visible) this.draw();
    }, 100);
    this.#timer.unref?.();
  }

  update(view: StatusView): void {
    this.#view = view;
  }

  draw(): void {
    if (!this.enabled) return;
    const line = formatStatusLine(this.#view, this.io.now(), this.#frame++);
    const fitted = [...line].slice(0, Math.max(10, this.io.columns - 1)).join('');
    this.io.stderr(`\r\x1b[2K${fitted}`);
    this.#visible = true;
  }

  /**
   * Draws the status on the row below the cursor, the answer being mid-line. IND (ESC D) moves down
   * one row keeping the column, scrolling when on the last row, and DECSC (ESC 7) saves that spot:
   * `clear` restores it and goes back up with RI (ESC M), to the column the answer stopped at.
   */
  drawBelow(): void {
    if (!this.enabled) return;
    if (!this.#below) {
      if (this.#visible) this.clear();
      this.io.stderr('\x1bD\x1b7');
      this.#below = true;
    }
    this.draw();
  }

  clear(): void {
    if (!this.#visible) return;
    this.io.stderr(this.#below ? '\r\x1b[2K\x1b8\x1bM' : '\r\x1b[2K');
    this.#visible = false;
    this.#below = false;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.clear();
  }
}

import type { Direction } from './faults.js';

/** Something the fault proxy did; `index` is the connection's 0-based acceptance order. */
export type ProxyEvent =
  | {
      type: 'connection';
      index: number;
      remoteAddress: string | undefined;
      remotePort: number | undefined;
      faults: string[];
    }
  | { type: 'refuse'; index: number }
  | { type: 'cut'; index: number; direction: Direction; afterBytes: number }
  | { type: 'stall'; index: number; direction: Direction; afterBytes: number; forMs: number | undefined }
  | { type: 'resume'; index: number; direction: Direction; afterBytes: number }
  | { type: 'upstream-error'; index: number; message: string; code: string | undefined }
  | { type: 'close'; index: number; bytesUp: number; bytesDown: number };

/** The `type` of a {@link ProxyEvent}. */
export type ProxyEventType = ProxyEvent['type'];

/**
 * One log line for an event, numbering connections from 1 as people count them
 * (`--every 2` hits connections #2, #4, …).
 */
export function formatProxyEvent(event: ProxyEvent): string {
  const label = `#${event.index + 1}`;
  switch (event.type) {
    case 'connection': {
      const from =
        event.remoteAddress === undefined ? 'unknown' : `${event.remoteAddress}:${event.remotePort}`;
      const faults = event.faults.length === 0 ? 'none' : event.faults.join(', ');
      return `${label} connection from ${from}; faults: ${faults}`;
    }
    case 'refuse':
      return `${label} refused (reset)`;
    case 'cut':
      return `${label} cut after ${event.afterBytes} bytes ${event.direction}`;
    case 'stall':
      return `${label} stall after ${event.afterBytes} bytes ${event.direction} ${event.forMs === undefined ? 'until closed' : `for ${event.forMs}ms`}`;
    case 'resume':
      return `${label} resume ${event.direction} after stall at ${event.afterBytes} bytes`;
    case 'upstream-error':
      return `${label} target unreachable: ${event.code ?? event.message}`;
    case 'close':
      return `${label} closed (up ${event.bytesUp} B, down ${event.bytesDown} B)`;
  }
}

import type { ServerResponse } from 'node:http';
import type { OpenAIErrorBody, Usage } from '@spool/protocol';
import type { GatewayError } from '../errors.js';
import type { UpstreamEvent } from '../providers/provider.js';
import type { ApiName } from './api-name.js';

/**
 * How the relay treats one surface's events. The shared core (relay, spool) knows a surface only
 * through this: how to number and encode an event, which events carry content or usage, which one
 * ends the stream, and how to end a stream that the upstream cut or the gateway stopped.
 */
export interface EventPolicy {
  /**
   * Encodes an event for the wire with its spool id (1, 2, 3 … in order). The bytes returned are
   * stored and sent as they are; a surface that numbers its events otherwise maps the id here.
   */
  encode(spoolId: number, data: string, event: string | undefined): string;
  /** Whether the event carries generated content or a tool call (first token; the token estimate). */
  hasContent(data: string, event: string | undefined): boolean;
  /**
   * Reports the usage an event carries, if any, through `onUsage`; true when the event carries
   * nothing else (it is dropped when the client did not ask for usage).
   */
  takeUsage(data: string, event: string | undefined, onUsage: (usage: Usage) => void): boolean;
  /** `done` or `error` when the event is the stream's last, else `undefined`. */
  ending(data: string, event: string | undefined): 'done' | 'error' | undefined;
  /** Whether the event says the generation finished (the terminal event may still follow). */
  isFinish(data: string, event: string | undefined): boolean;
  /** The event that ends a stream whose upstream finished but stopped before its terminal event. */
  completion(): UpstreamEvent;
  /** The one final event of a stream that failed or was stopped, from an OpenAI error body. */
  errorEvent(body: OpenAIErrorBody): UpstreamEvent;
}

/**
 * An API clients speak to the gateway: its routes (in `ROUTES`, each naming its surface), its
 * request schema and handler (in its folder under `surfaces/`), and what the shared code needs to
 * serve it: its error shape, its event encoding and its resume parameter.
 */
export interface Surface {
  readonly name: ApiName;
  /** The relay's rules for this surface's streams. */
  readonly events: EventPolicy;
  /**
   * The spool id after which to replay, for the last event id a client says it has (its
   * `Last-Event-ID`, or the surface's own resume parameter); `undefined` = from the start.
   */
  spoolIdAfter(clientEventId: number | undefined): number;
  /** Sends an error in this surface's shape (status, body, `Retry-After` and `headers`). */
  sendError(response: ServerResponse, error: GatewayError, headers?: Record<string, string>): void;
}

import { DONE_DATA } from '@spool/protocol';
import type { UpstreamError } from '../errors.js';
import { upstreamProtocolError } from '../providers/mapped-events.js';
import type { UpstreamEvent } from '../providers/provider.js';

/** The JSON kind a field of an event's data must have. */
type FieldKind = 'object' | 'string' | 'integer';

/** The fields each known event type must carry (those the official SDKs read), by their kind. */
export type EventShapes = Readonly<Record<string, Readonly<Record<string, FieldKind>>>>;

/** A native event whose data is a JSON object with a string `type`, its fields as its type requires. */
export interface NativeEvent {
  type: string;
  payload: Record<string, unknown>;
}

function hasKind(value: unknown, kind: FieldKind): boolean {
  if (kind === 'string') return typeof value === 'string';
  if (kind === 'integer') return Number.isInteger(value);
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ARTICLE: Readonly<Record<FieldKind, string>> = {
  object: 'an object',
  string: 'a string',
  integer: 'an integer',
};

/**
 * Reads one event of a pass-through surface (Responses, Messages). Its data must be a JSON object
 * with a string `type`, and a known type must carry the fields `shapes` lists: else the stream
 * ends with `upstream_protocol_error` rather than relaying what the official SDKs would choke on.
 * An unknown type passes as it is. Events that carry nothing are dropped: empty data, `[DONE]`
 * (a chat convention, no event of these APIs) and an `event: ping` that is not a well-formed event.
 */
export function readNativeEvent(
  event: UpstreamEvent,
  shapes: EventShapes,
  provider: string,
): NativeEvent | UpstreamError | undefined {
  const { data } = event;
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    if (data === DONE_DATA || data.trim() === '' || event.event === 'ping') return undefined;
    return upstreamProtocolError(provider, 'is not JSON', data);
  }
  const type = hasKind(payload, 'object') ? (payload as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || type === '') {
    return event.event === 'ping'
      ? undefined
      : upstreamProtocolError(provider, 'is not a JSON object with a string "type"', data);
  }
  const record = payload as Record<string, unknown>;
  const fields = shapes[type];
  if (fields !== undefined) {
    for (const field in fields) {
      const kind = fields[field] as FieldKind;
      if (!hasKind(record[field], kind))
        return upstreamProtocolError(provider, `is a ${type} whose "${field}" is not ${ARTICLE[kind]}`, data);
    }
  }
  return { type, payload: record };
}

/**
 * The event as the client gets it: named by its data's `type` (what the SDKs dispatch on), the
 * same object when it already was.
 */
export function namedByType(event: UpstreamEvent, type: string, data = event.data): UpstreamEvent {
  return event.event === type && data === event.data ? event : { event: type, data };
}

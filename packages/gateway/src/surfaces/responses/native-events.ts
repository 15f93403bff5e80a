import { UpstreamError } from '../../errors.js';
import { MappedEvents } from '../../providers/mapped-events.js';
import type { BufferedEventSource, UpstreamEvent } from '../../providers/provider.js';
import { type EventShapes, namedByType, readNativeEvent } from '../native-event-shape.js';

const RESPONSE = { response: 'object' } as const;
const ITEM = { output_index: 'integer', item: 'object' } as const;
const PART = { output_index: 'integer', content_index: 'integer', part: 'object' } as const;
const CONTENT_DELTA = { output_index: 'integer', content_index: 'integer', delta: 'string' } as const;

/**
 * The fields of the Responses events the openai SDKs read (their ResponseStream accumulates the
 * Response from them); other event types pass as they are.
 */
const RESPONSES_EVENT_SHAPES: EventShapes = {
  'response.created': RESPONSE,
  'response.queued': RESPONSE,
  'response.in_progress': RESPONSE,
  'response.completed': RESPONSE,
  'response.incomplete': RESPONSE,
  'response.failed': RESPONSE,
  'response.output_item.added': ITEM,
  'response.output_item.done': ITEM,
  'response.content_part.added': PART,
  'response.content_part.done': PART,
  'response.output_text.delta': CONTENT_DELTA,
  'response.output_text.done': { output_index: 'integer', content_index: 'integer', text: 'string' },
  'response.refusal.delta': CONTENT_DELTA,
  'response.reasoning_text.delta': CONTENT_DELTA,
  'response.reasoning_summary_text.delta': {
    output_index: 'integer',
    summary_index: 'integer',
    delta: 'string',
  },
  'response.function_call_arguments.delta': { output_index: 'integer', delta: 'string' },
  'response.function_call_arguments.done': { output_index: 'integer', arguments: 'string' },
  error: { message: 'string' },
};

/** A top-level `sequence_number` where OpenAI writes it: last, an integer (the spool replaces it there). */
const LAST_SEQUENCE_NUMBER = /^"sequence_number"\s*:\s*\d+\s*\}\s*$/;

/**
 * A native Responses stream as the spool takes it: every event checked (`readNativeEvent`; a
 * malformed one ends the stream with `upstream_protocol_error`), named by its type, and the
 * upstream's Response id (from the first event that carries a `response`) replaced by Spool's in
 * the `id` and `response_id` fields that hold it, never in text. Everything else, unknown event
 * types included, passes through untouched; the spool then sets each `sequence_number`.
 */
export function nativeResponsesEvents(
  events: AsyncIterable<UpstreamEvent>,
  responseId: string,
  provider: string,
): AsyncIterableIterator<UpstreamEvent> & BufferedEventSource {
  return new NativeResponsesEvents(events[Symbol.asyncIterator](), responseId, provider);
}

class NativeResponsesEvents extends MappedEvents {
  readonly #responseId: string;
  readonly #provider: string;
  #upstreamId: string | undefined;
  /** The `id`/`response_id` fields that hold the upstream's id (a key is never inside a JSON string). */
  #idFields: RegExp | undefined;

  constructor(source: AsyncIterator<UpstreamEvent>, responseId: string, provider: string) {
    super(source);
    this.#responseId = responseId;
    this.#provider = provider;
  }

  protected map(event: UpstreamEvent): UpstreamEvent | UpstreamError | undefined {
    const read = readNativeEvent(event, RESPONSES_EVENT_SHAPES, this.#provider);
    if (read === undefined || read instanceof UpstreamError) return read;
    const { type, payload } = read;
    let { data } = event;
    const sequenceAt = data.lastIndexOf('"sequence_number"');
    if (
      sequenceAt !== -1 &&
      !(Number.isInteger(payload.sequence_number) && LAST_SEQUENCE_NUMBER.test(data.slice(sequenceAt)))
    ) {
      // Anywhere else (nested, not an integer, not last) the spool's number would land in the
      // wrong place: written again with a placeholder where the spool sets it.
      const { sequence_number: _upstreams, ...fields } = payload;
      data = JSON.stringify({ ...fields, sequence_number: 0 });
    }
    if (this.#upstreamId === undefined) this.#learnUpstreamId(payload);
    const upstreamId = this.#upstreamId;
    if (upstreamId !== undefined && this.#idFields !== undefined && data.includes(upstreamId))
      data = data.replace(this.#idFields, `"$1"$2"${this.#responseId}"`);
    return namedByType(event, type, data);
  }

  #learnUpstreamId(payload: Record<string, unknown>): void {
    const id = (payload.response as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'string' || id === '' || id === this.#responseId) return;
    this.#upstreamId = id;
    const quoted = JSON.stringify(id).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.#idFields = new RegExp(`"(id|response_id)"(\\s*:\\s*)${quoted}`, 'g');
  }
}

/** Whether a native Responses event tells the client something (ends the upstream read-ahead). */
export function isMeaningfulResponsesEvent(event: UpstreamEvent): boolean {
  const type = event.event ?? '';
  return type !== 'response.created' && type !== 'response.in_progress' && type !== 'response.queued';
}

import { UpstreamError } from '../../errors.js';
import { ProviderMappedEvents } from '../../providers/mapped-events.js';
import type { BufferedEventSource, UpstreamEvent } from '../../providers/provider.js';
import { type EventShapes, namedByType, readNativeEvent } from '../native-event-shape.js';

/**
 * The fields of the Messages events the Anthropic SDKs read (their MessageStream accumulates the
 * Message from them); other event types pass as they are.
 */
const MESSAGES_EVENT_SHAPES: EventShapes = {
  message_start: { message: 'object' },
  content_block_start: { index: 'integer', content_block: 'object' },
  content_block_delta: { index: 'integer', delta: 'object' },
  content_block_stop: { index: 'integer' },
  message_delta: { delta: 'object', usage: 'object' },
  error: { error: 'object' },
};

/**
 * A native Messages stream as the spool takes it: every event checked (`readNativeEvent`; a
 * malformed one ends the stream with `upstream_protocol_error`) and named by its type, which the
 * Anthropic SDKs dispatch on (they skip an event with no `event:` line); its data untouched.
 */
export function nativeMessagesEvents(
  events: AsyncIterable<UpstreamEvent>,
  provider: string,
): AsyncIterableIterator<UpstreamEvent> & BufferedEventSource {
  return new ProviderMappedEvents(events[Symbol.asyncIterator](), provider, readMessagesEvent);
}

function readMessagesEvent(
  event: UpstreamEvent,
  provider: string,
): UpstreamEvent | UpstreamError | undefined {
  const read = readNativeEvent(event, MESSAGES_EVENT_SHAPES, provider);
  if (read === undefined || read instanceof UpstreamError) return read;
  return namedByType(event, read.type);
}

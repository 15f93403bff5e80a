import type { UpstreamEvent } from '../../providers/provider.js';

const RESPONSE_ID_PATTERN = /"id"\s*:\s*"(resp_[^"]+)"/;

/**
 * A native Responses stream with the upstream's Response id replaced by Spool's in every event
 * (found in its first event that names one): everything else, unknown event types included, passes
 * through untouched; the spool then sets each `sequence_number`.
 */
export async function* withSpoolResponseId(
  events: AsyncIterable<UpstreamEvent>,
  responseId: string,
): AsyncGenerator<UpstreamEvent> {
  let upstreamId: string | undefined;
  for await (const event of events) {
    upstreamId ??= RESPONSE_ID_PATTERN.exec(event.data)?.[1];
    if (upstreamId === undefined || upstreamId === responseId || !event.data.includes(upstreamId)) {
      yield event;
      continue;
    }
    yield { event: event.event, data: event.data.split(upstreamId).join(responseId) };
  }
}

/** Whether a native Responses event tells the client something (ends the upstream read-ahead). */
export function isMeaningfulResponsesEvent(event: UpstreamEvent): boolean {
  const type = event.event ?? '';
  return type !== 'response.created' && type !== 'response.in_progress' && type !== 'response.queued';
}

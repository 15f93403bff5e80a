import type { StreamMeta } from '../../spool/store.js';

/** A Responses event as spooled, parsed. */
export type SpooledEvent = Record<string, unknown> & { type?: string };

/** Parses spooled SSE bytes (whole events, one `data:` line each as Spool writes them) into event data. */
export function parseSpooledEvents(text: string): SpooledEvent[] {
  const events: SpooledEvent[] = [];
  for (const block of text.split('\n\n')) {
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('data: ')) data += (data ? '\n' : '') + line.slice(6);
      else if (line.startsWith('data:')) data += (data ? '\n' : '') + line.slice(5);
    }
    if (data === '') continue;
    try {
      events.push(JSON.parse(data) as SpooledEvent);
    } catch {}
  }
  return events;
}

type Item = Record<string, unknown> & { content?: Array<Record<string, unknown>> };

/**
 * The Response object a stream's events describe so far: the last `response` snapshot an event
 * carried, with the output the deltas since built (`in_progress` while it runs), or the terminal
 * event's final object. `meta` says how a stream that ended without one ended (cancelled, failed).
 */
export function foldResponse(
  events: readonly SpooledEvent[],
  meta: Pick<StreamMeta, 'state'>,
  base: Record<string, unknown>,
): Record<string, unknown> {
  let response: Record<string, unknown> = { ...base, status: 'queued', output: [] };
  let output: Item[] = [];
  let terminal = false;
  let error: Record<string, unknown> | undefined;
  for (const event of events) {
    const index = typeof event.output_index === 'number' ? event.output_index : -1;
    const item = output[index];
    switch (event.type) {
      case 'response.created':
      case 'response.in_progress':
      case 'response.queued':
      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed': {
        const snapshot = event.response as Record<string, unknown> | undefined;
        if (!snapshot) break;
        response = { ...snapshot, id: base.id };
        const final =
          event.type !== 'response.created' &&
          event.type !== 'response.in_progress' &&
          event.type !== 'response.queued';
        if (final) terminal = true;
        if (final || (Array.isArray(snapshot.output) && snapshot.output.length > output.length))
          output = structuredClone((snapshot.output as Item[]) ?? []);
        break;
      }
      case 'response.output_item.added':
      case 'response.output_item.done':
        if (index >= 0) output[index] = structuredClone(event.item as Item);
        break;
      case 'response.content_part.added':
      case 'response.content_part.done':
        if (item && typeof event.content_index === 'number') {
          item.content ??= [];
          item.content[event.content_index] = structuredClone(event.part as Record<string, unknown>);
        }
        break;
      case 'response.output_text.delta': {
        const part =
          typeof event.content_index === 'number' ? item?.content?.[event.content_index] : undefined;
        if (part) part.text = String(part.text ?? '') + String(event.delta ?? '');
        break;
      }
      case 'response.function_call_arguments.delta':
        if (item) item.arguments = String(item.arguments ?? '') + String(event.delta ?? '');
        break;
      case 'error':
        error = { code: event.code ?? null, message: event.message ?? '' };
        break;
      default:
    }
  }
  response.output = output;
  if (terminal) return response;
  if (meta.state === 'cancelled') return { ...response, status: 'cancelled' };
  if (meta.state === 'error' || error) return { ...response, status: 'failed', error: error ?? null };
  if (meta.state === 'done') return { ...response, status: 'completed' };
  return { ...response, status: events.length === 0 ? 'queued' : 'in_progress' };
}

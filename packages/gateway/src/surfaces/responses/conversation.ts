import type { Caller } from '../../auth.js';
import type { GatewayContext } from '../../context.js';
import { GatewayError } from '../../errors.js';
import { findStream } from '../../handlers/streams.js';
import type { StreamMeta } from '../../spool/store.js';
import { streamIdOf } from './response-ids.js';
import { foldResponse, parseSpooledEvents } from './response-object.js';
import type { InputItem } from './responses-request.js';
import { readSpooled } from './spooled-events.js';

/** What a Responses stream keeps beside its events (`StreamMeta.surfaceData`). */
export interface StoredResponse {
  /** The whole conversation the response answered: earlier turns' items, then its own input. */
  input: InputItem[];
  /** `store: false`: resumable while it runs, not kept as a response afterwards. */
  store: boolean;
  /** The Response object's fields besides status and output. */
  base: Record<string, unknown>;
}

/** A Responses stream found by its Response id, with what it stored. */
export interface FoundResponse {
  meta: StreamMeta;
  stored: StoredResponse;
}

/**
 * Finds a response of this surface by id (404 for an unknown id or another surface's stream, 410
 * once expired; a `store: false` response is not found once it ended), checking its owner.
 */
export async function findResponse(
  context: GatewayContext,
  caller: Caller | undefined,
  responseId: string,
): Promise<FoundResponse> {
  const notFound = () =>
    GatewayError.of('not_found', `No response with id '${responseId}'.`, { param: 'response_id' });
  const streamId = streamIdOf(responseId);
  if (streamId === undefined) throw notFound();
  let meta: StreamMeta;
  try {
    meta = await findStream(context, streamId);
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'stream_not_found') throw notFound();
    throw error;
  }
  if (meta.surface !== 'responses' || meta.surfaceData === undefined) throw notFound();
  if (caller && caller.id !== meta.ownerId)
    throw GatewayError.of('stream_forbidden', 'This response belongs to another API key.');
  const stored = JSON.parse(meta.surfaceData) as StoredResponse;
  if (!stored.store && isEnded(meta)) throw notFound();
  return { meta, stored };
}

/** Whether a stream has ended. */
export function isEnded(meta: StreamMeta): boolean {
  return meta.state === 'done' || meta.state === 'error' || meta.state === 'cancelled';
}

/** The Response object of a found response: final once ended, else `in_progress` with the output so far. */
export async function currentResponse(
  context: GatewayContext,
  { meta, stored }: FoundResponse,
): Promise<Record<string, unknown>> {
  if (meta.failure) {
    const error = (meta.failure.body as { error?: { code?: unknown; message?: unknown } }).error;
    return {
      ...stored.base,
      status: 'failed',
      output: [],
      error: { code: error?.code ?? null, message: error?.message ?? '' },
    };
  }
  const ended = isEnded(meta);
  const text = await readSpooled(context.store, meta.id, { untilEnd: ended });
  return foldResponse(parseSpooledEvents(text), meta, stored.base);
}

/**
 * The conversation a follow-up continues (`previous_response_id`): the earlier response's input
 * items, then its output items.
 */
export async function previousConversation(
  context: GatewayContext,
  caller: Caller,
  previousResponseId: string,
): Promise<InputItem[]> {
  const found = await findResponse(context, caller, previousResponseId).catch((error: unknown) => {
    if (error instanceof GatewayError && error.status === 404)
      throw GatewayError.of(
        'invalid_request',
        `Previous response with id '${previousResponseId}' not found.`,
        {
          param: 'previous_response_id',
        },
      );
    throw error;
  });
  if (!isEnded(found.meta) && !found.meta.failure)
    throw GatewayError.of(
      'invalid_request',
      `Previous response '${previousResponseId}' is still in progress; wait for it to finish.`,
      { param: 'previous_response_id' },
    );
  const response = await currentResponse(context, found);
  return [...found.stored.input, ...((response.output as InputItem[]) ?? [])];
}

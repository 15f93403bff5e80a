import { encodeEvent, errorBody, type OpenAIErrorBody, type Usage } from '@spool/protocol';
import type { UpstreamEvent } from '../../providers/provider.js';
import type { EventPolicy } from '../surface.js';

const SEQUENCE_NUMBER_PATTERN = /^"sequence_number"\s*:\s*-?\d+/;
const CONTENT_EVENTS = new Set([
  'response.output_text.delta',
  'response.function_call_arguments.delta',
  'response.refusal.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
]);
const TYPE_PATTERN = /"type"\s*:\s*"([^"]+)"/;

/** The Responses event type: the SSE `event:` name, else the data's `type`. */
function responsesEventType(data: string, event: string | undefined): string | undefined {
  return event ?? TYPE_PATTERN.exec(data)?.[1];
}

/**
 * Sets an event's top-level `sequence_number` (OpenAI writes it last): the upstream's is replaced,
 * an event without one gets it appended. Nothing else of the event's bytes changes.
 */
export function withSequenceNumber(data: string, sequenceNumber: number): string {
  const at = data.lastIndexOf('"sequence_number"');
  if (at !== -1) {
    const found = SEQUENCE_NUMBER_PATTERN.exec(data.slice(at));
    if (found)
      return `${data.slice(0, at)}"sequence_number":${sequenceNumber}${data.slice(at + found[0].length)}`;
  }
  const end = data.lastIndexOf('}');
  if (end === -1) return data;
  const empty = /^\{\s*$/.test(data.slice(0, end));
  return `${data.slice(0, end)}${empty ? '' : ','}"sequence_number":${sequenceNumber}${data.slice(end)}`;
}

/** Usage of a Responses `response` object in the chat shape the gateway accounts in. */
function chatUsage(usage: { input_tokens?: number; output_tokens?: number; total_tokens?: number }): Usage {
  const prompt = usage.input_tokens ?? 0;
  const completion = usage.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: usage.total_tokens ?? prompt + completion,
  };
}

/** The `error` event of a Responses stream, from an OpenAI error body. */
function responsesErrorEvent(body: OpenAIErrorBody): UpstreamEvent {
  const { code, message, param } = body.error;
  // The fields of OpenAI's `error` event, plus the error object itself: the openai SDKs raise an
  // APIError for an event whose data has `error`, so a failed stream never reads as a short one.
  return {
    event: 'error',
    data: JSON.stringify({ type: 'error', code, message, param, error: body.error }),
  };
}

/** The terminal events of a Responses stream and the outcome each means. */
const TERMINAL: Readonly<Record<string, 'done' | 'error'>> = {
  'response.completed': 'done',
  'response.incomplete': 'done',
  'response.failed': 'error',
  error: 'error',
};

/**
 * Responses streams: every event's SSE `id:` and its `sequence_number` are one number, the spool
 * id − 1 (contiguous from 0, as OpenAI numbers them), with the event type as `event:`; a terminal
 * `response.completed`/`incomplete` ends it done, `response.failed` or `error` failed. Unknown
 * event types (a native upstream's) are numbered and kept as they are.
 */
export const RESPONSES_EVENTS: EventPolicy = {
  encode(spoolId, data, event) {
    const sequenceNumber = spoolId - 1;
    return encodeEvent({
      id: sequenceNumber,
      event: responsesEventType(data, event),
      data: withSequenceNumber(data, sequenceNumber),
    });
  },
  hasContent: (data, event) => CONTENT_EVENTS.has(responsesEventType(data, event) ?? ''),
  takeUsage(data, event, onUsage) {
    const type = responsesEventType(data, event) ?? '';
    if (!(type in TERMINAL) || type === 'error') return false;
    try {
      const usage = (JSON.parse(data) as { response?: { usage?: Parameters<typeof chatUsage>[0] | null } })
        .response?.usage;
      if (usage) onUsage(chatUsage(usage));
    } catch {}
    return false;
  },
  ending: (data, event) => TERMINAL[responsesEventType(data, event) ?? ''],
  // The terminal event is the finish; a stream cut before it is a truncation.
  isFinish: () => false,
  completion: () =>
    responsesErrorEvent(errorBody('upstream_error', 'The upstream ended the stream before it finished.')),
  errorEvent: responsesErrorEvent,
};

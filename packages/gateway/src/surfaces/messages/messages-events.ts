import {
  encodeEvent,
  type OpenAIErrorBody,
  type SpoolErrorCode,
  statusForCode,
  type Usage,
} from '@spool/protocol';
import { asNumber, asRecord } from '../../providers/anthropic-json.js';
import type { UpstreamEvent } from '../../providers/provider.js';
import type { EventPolicy } from '../surface.js';
import { anthropicErrorBody } from './anthropic-errors.js';

const MESSAGE_STOP: UpstreamEvent = Object.freeze({ event: 'message_stop', data: '{"type":"message_stop"}' });
// Anthropic's events carry their type first: read without parsing when the upstream sent no `event:` line.
const TYPE_PATTERN = /^\s*\{\s*"type"\s*:\s*"([a-z_]+)"/;
const STOP_REASON_PATTERN = /"stop_reason"\s*:\s*"/;

/** An event's type: its `event:` line, else the `type` its data starts with. */
function typeOf(data: string, event: string | undefined): string | undefined {
  return event ?? TYPE_PATTERN.exec(data)?.[1];
}

/** The status of an OpenAI-shaped error body (its Spool code's, else a 500), for Anthropic's error type. */
function statusOf(body: OpenAIErrorBody): number {
  try {
    return statusForCode(body.error.code as SpoolErrorCode) ?? 500;
  } catch {
    return 500;
  }
}

/**
 * The `event: error` that ends a Messages stream, in Anthropic's shape; `status` (for its error
 * type) defaults to that of the body's Spool code.
 */
export function messagesErrorEvent(body: OpenAIErrorBody, status = statusOf(body)): UpstreamEvent {
  return { event: 'error', data: JSON.stringify(anthropicErrorBody(status, body)) };
}

/**
 * Messages streams, native or translated: every event keeps its `event:` line and gets the spool
 * id as `id:` (1, 2, …); `message_stop` ends a stream, `error` ends it failed, a `message_delta`
 * with a stop reason says the generation finished. Usage comes in two parts (input tokens in
 * `message_start`, output tokens in `message_delta`), so each generation gets its own instance
 * to add them up; serving a resume only encodes errors and may share one.
 */
export class MessagesEvents implements EventPolicy {
  readonly #usage = { input: 0, output: 0 };

  encode(spoolId: number, data: string, event: string | undefined): string {
    return encodeEvent({ id: spoolId, event: typeOf(data, event), data });
  }

  hasContent(data: string, event: string | undefined): boolean {
    return typeOf(data, event) === 'content_block_delta';
  }

  takeUsage(data: string, event: string | undefined, onUsage: (usage: Usage) => void): boolean {
    const type = typeOf(data, event);
    if (type !== 'message_start' && type !== 'message_delta') return false;
    try {
      const payload = asRecord(JSON.parse(data));
      const usage = asRecord(type === 'message_start' ? asRecord(payload?.message)?.usage : payload?.usage);
      if (!usage) return false;
      // Anthropic counts cached input apart from input_tokens; OpenAI's prompt_tokens includes it.
      const input = ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens']
        .map((key) => asNumber(usage[key]))
        .filter((value) => value !== undefined);
      if (input.length > 0) this.#usage.input = input.reduce((sum, value) => sum + value, 0);
      const output = asNumber(usage.output_tokens);
      if (output !== undefined) this.#usage.output = output;
      const { input: prompt, output: completion } = this.#usage;
      onUsage({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });
    } catch {}
    // No Messages event carries only usage: nothing is ever dropped.
    return false;
  }

  ending(data: string, event: string | undefined): 'done' | 'error' | undefined {
    const type = typeOf(data, event);
    if (type === 'message_stop') return 'done';
    if (type === 'error') return 'error';
    return undefined;
  }

  isFinish(data: string, event: string | undefined): boolean {
    return typeOf(data, event) === 'message_delta' && STOP_REASON_PATTERN.test(data);
  }

  completion(): UpstreamEvent {
    return MESSAGE_STOP;
  }

  errorEvent(body: OpenAIErrorBody): UpstreamEvent {
    return messagesErrorEvent(body);
  }
}

/** Whether a native Messages event tells the client something (read-ahead ends on it). */
export function isMeaningfulMessagesEvent(event: UpstreamEvent): boolean {
  const type = typeOf(event.data, event.event);
  return type !== 'message_start' && type !== 'ping' && type !== 'content_block_start';
}

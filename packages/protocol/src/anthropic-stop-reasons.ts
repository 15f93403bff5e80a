import type { FinishReason } from './openai-types.js';

// The one table between Anthropic's `stop_reason` and OpenAI's `finish_reason`, read both ways:
// the gateway's Anthropic provider and Messages surface, and the client's Messages streams.

/** Maps Anthropic's `stop_reason` to OpenAI's `finish_reason`. */
export function toFinishReason(stopReason: string | null | undefined): FinishReason | null {
  switch (stopReason) {
    case null:
    case undefined:
      return null;
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn and reasons added later: the model stopped on its own.
      return 'stop';
  }
}

/** Anthropic's stop reasons that a chat completion can report. */
export type TranslatedStopReason = 'end_turn' | 'max_tokens' | 'tool_use' | 'refusal' | 'stop_sequence';

/**
 * Maps OpenAI's `finish_reason` to Anthropic's `stop_reason`. A `stop` caused by one of the request's
 * `stop_sequences` is `stop_sequence` when the upstream says which (`stopSequence`); chat completions
 * usually do not, so it reads as `end_turn`.
 */
export function toStopReason(
  finishReason: string | null | undefined,
  stopSequence?: string | null,
): TranslatedStopReason {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return stopSequence ? 'stop_sequence' : 'end_turn';
  }
}

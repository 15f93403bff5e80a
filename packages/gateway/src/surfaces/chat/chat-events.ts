import { DONE_DATA, encodeEvent, type OpenAIErrorBody, type Usage } from '@spool/protocol';
import type { UpstreamEvent } from '../../providers/provider.js';
import { startsWithErrorKey } from '../../providers/upstream-event-error.js';
import type { EventPolicy } from '../surface.js';

const FINISH_PATTERN = /"finish_reason"\s*:\s*"/;
const CONTENT_PATTERN = /"(content|arguments)"\s*:\s*"[^"]|"tool_calls"\s*:\s*\[/;
const USAGE_PATTERN = /"usage"\s*:\s*\{/;
const DONE_EVENT: UpstreamEvent = Object.freeze({ data: DONE_DATA });

/** Whether a chunk carries content or a tool call: the common form found by one search, the rest by the pattern. */
function hasContent(data: string): boolean {
  const at = data.indexOf('"content":"');
  if (at !== -1 && data.charCodeAt(at + 11) !== 34) return true;
  return CONTENT_PATTERN.test(data);
}

/** Reports a chunk's usage; true when the chunk carries nothing else (`choices: []`). */
function takeUsage(data: string, _event: string | undefined, onUsage: (usage: Usage) => void): boolean {
  // Most chunks never name usage: one search before the pattern and the parse.
  if (data.indexOf('"usage"') === -1 || !USAGE_PATTERN.test(data)) return false;
  try {
    const chunk = JSON.parse(data) as { usage?: Usage | null; choices?: unknown[] };
    if (chunk.usage) onUsage(chunk.usage);
    return Array.isArray(chunk.choices) && chunk.choices.length === 0;
  } catch {
    return false;
  }
}

/**
 * Chat Completions streams: `id:` is the spool id (1, 2, 3 …), `data: [DONE]` ends a stream, a
 * `{"error": …}` event ends it failed, a `finish_reason` says the generation finished.
 */
export const CHAT_EVENTS: EventPolicy = {
  encode: (spoolId, data, event) => encodeEvent({ id: spoolId, event, data }),
  hasContent: (data) => hasContent(data),
  takeUsage,
  ending(data, event) {
    if (data === DONE_DATA) return 'done';
    if (startsWithErrorKey(data) || event === 'error') return 'error';
    return undefined;
  },
  isFinish: (data) => FINISH_PATTERN.test(data),
  completion: () => DONE_EVENT,
  errorEvent: (body: OpenAIErrorBody) => ({ data: JSON.stringify(body) }),
};

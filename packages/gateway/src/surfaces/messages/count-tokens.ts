import { TOKEN_ESTIMATE_DEFAULTS } from '../../limits/estimate-tokens.js';
import type { MessagesRequest } from './messages-schema.js';

/**
 * The gateway's estimate of a Messages request's input tokens, for `POST /v1/messages/count_tokens`
 * where the upstream cannot count: the characters of the system prompt, of every text, tool input
 * and tool result, and of the tool definitions, at `charsPerToken` (the rule the rate limits use).
 * Images count as the JSON of their source; a rough figure, said to be one (`x-spool-token-count: estimate`).
 */
export function estimateInputTokens(
  request: Pick<MessagesRequest, 'system' | 'messages' | 'tools'>,
  charsPerToken: number = TOKEN_ESTIMATE_DEFAULTS.charsPerToken,
): number {
  let characters = 0;
  const count = (value: unknown): void => {
    if (typeof value === 'string') characters += value.length;
    else if (Array.isArray(value)) for (const item of value) count(item);
    else if (typeof value === 'object' && value !== null) {
      const record = value as Record<string, unknown>;
      if (typeof record.text === 'string') characters += record.text.length;
      else if (record.type === 'tool_use') characters += JSON.stringify(record.input ?? {}).length;
      else if (record.type === 'tool_result') count(record.content);
      else if (record.type === 'image') characters += JSON.stringify(record.source ?? {}).length;
    }
  };
  count(request.system);
  for (const message of request.messages) count(message.content);
  if (request.tools) characters += JSON.stringify(request.tools).length;
  return Math.ceil(characters / charsPerToken);
}

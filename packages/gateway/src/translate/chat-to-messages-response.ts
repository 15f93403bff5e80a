import type { ChatCompletion } from '@spool/protocol';
import { toStopReason } from '@spool/protocol';
import { UpstreamError } from '../errors.js';
import { asRecord, asString } from '../providers/anthropic-json.js';
import type { AnthropicMessageResponse } from '../providers/anthropic-types.js';
import { messageIdOf, toMessagesUsage } from './chat-to-messages-stream.js';

/**
 * Maps a non-streamed `chat.completion` to a Messages answer: its text as one text block, its tool
 * calls as `tool_use` blocks (arguments parsed), the stop reason and usage.
 * @throws UpstreamError (502 `upstream_error`) when the body is not a chat completion, or a tool
 * call's arguments are not a JSON object (a Messages client could not read them).
 */
export function chatToMessagesResponse(body: unknown, options: { model: string }): AnthropicMessageResponse {
  const completion = asRecord(body) as Partial<ChatCompletion> | undefined;
  const choice = completion?.choices?.[0];
  if (!completion || !choice || !asRecord(choice.message)) {
    throw UpstreamError.ofCode('upstream_error', 'The upstream answered without a chat completion choice.');
  }
  const content: AnthropicMessageResponse['content'] = [];
  const text = asString(choice.message.content) ?? asString(choice.message.refusal);
  if (text) content.push({ type: 'text', text });
  for (const call of choice.message.tool_calls ?? []) {
    let input: unknown;
    try {
      input = JSON.parse(call.function.arguments || '{}');
    } catch {}
    if (!asRecord(input)) {
      throw UpstreamError.ofCode(
        'upstream_error',
        `The upstream's tool call "${call.function.name}" has arguments that are not a JSON object.`,
      );
    }
    content.push({ type: 'tool_use', id: call.id, name: call.function.name, input });
  }
  return {
    id: messageIdOf(completion.id),
    type: 'message',
    role: 'assistant',
    model: options.model,
    content,
    stop_reason: toStopReason(choice.finish_reason),
    stop_sequence: null,
    usage: toMessagesUsage(completion.usage ?? undefined),
  };
}

import type { ChatCompletionRequest, ChatMessage, ToolCall } from '@spool/protocol';
import { GatewayError } from '../errors.js';
import { asRecord, asString, type JsonRecord } from '../providers/anthropic-json.js';
import type { MessagesRequest } from '../surfaces/messages/messages-schema.js';
import { toImageUrl } from './anthropic-images.js';

// Messages request → chat-completions request, for every upstream that does not speak Messages.
// The rule for what a translation cannot honour: a field that only tunes how the answer is made
// (prompt caching, thinking, effort, context editing) is dropped, since the answer is still a
// correct Messages answer without it; a field that asks for something a chat upstream cannot be
// told (top_k, server tools, documents, unknown block types or fields) is refused with a 400
// naming its `param`, never silently lost.

/** Top-level fields a translation drops: hints about how to answer, not what. */
const DROPPED_FIELDS = new Set([
  'thinking',
  'context_management',
  'output_config',
  'service_tier',
  'cache_control',
  'anthropic_version',
]);

/** Top-level fields the translation maps. */
const MAPPED_FIELDS = new Set([
  'model',
  'max_tokens',
  'messages',
  'system',
  'stream',
  'temperature',
  'top_p',
  'stop_sequences',
  'metadata',
  'tools',
  'tool_choice',
]);

function refused(message: string, param: string): GatewayError {
  return GatewayError.of('invalid_request', message, { param });
}

type ChatPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

/**
 * Maps a Messages request to a chat-completions request: `system` (string or text blocks) and
 * mid-conversation `system` messages become system messages; text and image blocks become content
 * parts; `tool_use` blocks become `tool_calls`, `tool_result` blocks `tool` messages (placed right
 * after the assistant message that called, as chat completions require); thinking blocks in the
 * history are dropped (only the model that thought can read them).
 * @throws GatewayError 400 naming the `param` of what a chat upstream cannot be told.
 */
export function messagesToChatRequest(request: MessagesRequest): ChatCompletionRequest {
  for (const field of Object.keys(request)) {
    if (MAPPED_FIELDS.has(field) || DROPPED_FIELDS.has(field)) continue;
    if (field === 'top_k') {
      throw refused(
        '`top_k` cannot be honoured: this model is served by an upstream without top-k sampling. Remove it, or use `temperature` / `top_p`.',
        'top_k',
      );
    }
    throw refused(
      `\`${field}\` cannot be honoured: this model is served by an upstream that does not speak Anthropic's Messages API.`,
      field,
    );
  }
  const messages: ChatMessage[] = [];
  const system = systemText(request.system);
  if (system !== '') messages.push({ role: 'system', content: system });
  request.messages.forEach((message, index) => {
    const param = `messages[${index}]`;
    if (message.role === 'system') {
      messages.push({ role: 'system', content: onlyText(message.content, `${param}.content`) });
    } else if (message.role === 'user') {
      messages.push(...userMessages(message.content, `${param}.content`));
    } else {
      messages.push(assistantMessage(message.content, `${param}.content`));
    }
  });
  const chat: ChatCompletionRequest = { model: request.model, messages, max_tokens: request.max_tokens };
  if (request.stream === true) chat.stream = true;
  if (request.temperature !== undefined) chat.temperature = request.temperature;
  if (request.top_p !== undefined) chat.top_p = request.top_p;
  if (request.stop_sequences !== undefined && request.stop_sequences.length > 0)
    chat.stop = request.stop_sequences;
  const user = request.metadata?.user_id;
  if (typeof user === 'string' && user !== '') chat.user = user;
  if (request.tools !== undefined && request.tools.length > 0) chat.tools = chatTools(request.tools);
  if (request.tool_choice !== undefined) {
    const { type, name, disable_parallel_tool_use: noParallel } = request.tool_choice;
    if (type === 'tool') {
      if (!name) throw refused('`tool_choice` of type "tool" needs the tool\'s `name`.', 'tool_choice.name');
      chat.tool_choice = { type: 'function', function: { name } };
    } else chat.tool_choice = type === 'any' ? 'required' : type;
    if (noParallel === true && chat.tools !== undefined) chat.parallel_tool_calls = false;
  }
  return chat;
}

function systemText(system: MessagesRequest['system']): string {
  if (system === undefined) return '';
  if (typeof system === 'string') return system;
  return system.map((block) => block.text).join('\n\n');
}

/** Text of content that may only hold text (a system message, a tool result). */
function onlyText(content: string | readonly JsonRecord[], param: string): string {
  if (typeof content === 'string') return content;
  return content
    .map((block, index) => {
      if (block.type === 'text' && typeof block.text === 'string') return block.text;
      throw refused(
        `Only text blocks can be sent here to this upstream, not "${String(block.type)}".`,
        `${param}[${index}].type`,
      );
    })
    .join('\n');
}

/** A user turn: its tool results first (as `tool` messages), then what the user said. */
function userMessages(content: string | readonly JsonRecord[], param: string): ChatMessage[] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const toolMessages: ChatMessage[] = [];
  const parts: ChatPart[] = [];
  content.forEach((block, index) => {
    const blockParam = `${param}[${index}]`;
    switch (block.type) {
      case 'text':
        parts.push({ type: 'text', text: textOf(block, blockParam) });
        break;
      case 'image':
        parts.push({ type: 'image_url', image_url: { url: toImageUrl(block, blockParam) } });
        break;
      case 'tool_result': {
        const toolUseId = asString(block.tool_use_id);
        if (!toolUseId)
          throw refused('A `tool_result` needs its `tool_use_id`.', `${blockParam}.tool_use_id`);
        const result =
          block.content === undefined ? '' : toolResultText(block.content, `${blockParam}.content`);
        // Chat tool messages have no error flag; the model reads it in the text instead.
        const text = block.is_error === true ? `Error: ${result}` : result;
        toolMessages.push({ role: 'tool', tool_call_id: toolUseId, content: text });
        break;
      }
      default:
        throw unknownBlock(block, blockParam);
    }
  });
  if (parts.length === 0) return toolMessages;
  const only = parts.length === 1 ? parts[0] : undefined;
  const userContent = only?.type === 'text' ? only.text : parts;
  return [...toolMessages, { role: 'user', content: userContent }];
}

function toolResultText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw refused('`content` must be a string or an array of blocks.', param);
  return onlyText(
    content.map((block) => asRecord(block) ?? {}),
    param,
  );
}

/** An assistant turn: text joined, `tool_use` blocks as tool calls, thinking dropped. */
function assistantMessage(content: string | readonly JsonRecord[], param: string): ChatMessage {
  if (typeof content === 'string') return { role: 'assistant', content };
  let text: string | null = null;
  const toolCalls: ToolCall[] = [];
  content.forEach((block, index) => {
    const blockParam = `${param}[${index}]`;
    switch (block.type) {
      case 'text':
        text = (text ?? '') + textOf(block, blockParam);
        break;
      case 'tool_use': {
        const id = asString(block.id);
        const name = asString(block.name);
        if (!id || !name) throw refused('A `tool_use` block needs its `id` and `name`.', blockParam);
        toolCalls.push({
          id,
          type: 'function',
          function: { name, arguments: JSON.stringify(block.input ?? {}) },
        });
        break;
      }
      case 'thinking':
      case 'redacted_thinking':
        break;
      default:
        throw unknownBlock(block, blockParam);
    }
  });
  const message: ChatMessage = { role: 'assistant', content: text };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}

function textOf(block: JsonRecord, param: string): string {
  const text = asString(block.text);
  if (text === undefined) throw refused('A `text` block needs its `text`.', `${param}.text`);
  return text;
}

function unknownBlock(block: JsonRecord, param: string): GatewayError {
  return refused(
    `Content blocks of type "${String(block.type)}" cannot be sent to this model: its upstream does not speak Anthropic's Messages API (text, image, tool_use, tool_result and thinking blocks translate).`,
    `${param}.type`,
  );
}

function chatTools(tools: NonNullable<MessagesRequest['tools']>): unknown[] {
  return tools.map((tool, index) => {
    // Server tools (web search, code execution, …) run at Anthropic; only custom tools translate.
    if (tool.type !== undefined && tool.type !== 'custom') {
      throw refused(
        `The server tool "${String(tool.type)}" runs only on Anthropic's API; this model's upstream can only be given custom tools.`,
        `tools[${index}].type`,
      );
    }
    const definition: JsonRecord = {
      name: tool.name,
      parameters: tool.input_schema ?? { type: 'object', properties: {} },
    };
    if (typeof tool.description === 'string') definition.description = tool.description;
    return { type: 'function', function: definition };
  });
}

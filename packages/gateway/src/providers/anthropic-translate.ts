import type { ChatCompletionRequest, ChatMessage, ToolCall } from '@spool/protocol';
import { GatewayError } from '../errors.js';
import { toImageBlock } from '../translate/anthropic-images.js';
import { asRecord, asString } from './anthropic-json.js';
import type {
  AnthropicContentBlock,
  AnthropicMessage,
  AnthropicMessagesRequest,
  AnthropicTool,
  AnthropicToolChoice,
} from './anthropic-types.js';

function invalidRequest(message: string, param: string): GatewayError {
  return GatewayError.of('invalid_request', message, { param });
}

// ─── Request: OpenAI chat completion → Anthropic Messages ───────────────────────────────────────

/** What the request mapping needs besides the request. */
export interface AnthropicRequestOptions {
  /** `max_tokens` when the request sets neither `max_tokens` nor `max_completion_tokens` (Anthropic requires one). */
  defaultMaxTokens: number;
}

/**
 * Maps an OpenAI chat-completions request to a Messages API request. System and developer
 * messages become `system`; tool calls and results become `tool_use` / `tool_result` blocks;
 * consecutive messages of one role are merged because Anthropic requires alternating roles.
 * Fields Anthropic has no equivalent for are dropped.
 * @throws GatewayError (400 `invalid_request`) for what cannot be expressed, naming the `param`.
 */
export function toAnthropicRequest(
  request: ChatCompletionRequest,
  options: AnthropicRequestOptions,
): AnthropicMessagesRequest {
  if (!Array.isArray(request.messages)) throw invalidRequest('`messages` must be an array.', 'messages');
  if (typeof request.n === 'number' && request.n > 1) {
    throw invalidRequest('Anthropic upstreams generate one choice per request; set `n` to 1.', 'n');
  }
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  const append = (role: AnthropicMessage['role'], blocks: AnthropicContentBlock[]) => {
    if (blocks.length === 0) return;
    const last = messages.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  request.messages.forEach((message, index) => {
    const param = `messages[${index}]`;
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = textOfContent(message.content, `${param}.content`);
        if (text !== '') system.push(text);
        break;
      }
      case 'user':
        append('user', contentBlocks(message.content, `${param}.content`, true));
        break;
      case 'assistant':
        append('assistant', [
          ...contentBlocks(message.content, `${param}.content`, false),
          ...toolUseBlocks(message, param),
        ]);
        break;
      case 'tool': {
        const toolUseId = asString(message.tool_call_id);
        if (!toolUseId)
          throw invalidRequest('A `tool` message needs its `tool_call_id`.', `${param}.tool_call_id`);
        const content = textOfContent(message.content, `${param}.content`);
        append('user', [{ type: 'tool_result', tool_use_id: toolUseId, content }]);
        break;
      }
      default:
        throw invalidRequest(
          `The role "${String(message.role)}" is not supported by Anthropic upstreams; use "tool" messages for function results.`,
          `${param}.role`,
        );
    }
  });

  const body: AnthropicMessagesRequest = {
    model: request.model,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? options.defaultMaxTokens,
    messages,
  };
  if (system.length > 0) body.system = system.join('\n\n');
  const stop = request.stop;
  if (typeof stop === 'string') body.stop_sequences = [stop];
  else if (Array.isArray(stop)) body.stop_sequences = stop.filter((entry) => typeof entry === 'string');
  if (typeof request.temperature === 'number') body.temperature = request.temperature;
  if (typeof request.top_p === 'number') body.top_p = request.top_p;
  const tools = toAnthropicTools(request.tools);
  if (tools.length > 0) {
    body.tools = tools;
    const toolChoice = toAnthropicToolChoice(request.tool_choice, request.parallel_tool_calls === false);
    if (toolChoice) body.tool_choice = toolChoice;
  }
  if (typeof request.user === 'string' && request.user !== '') body.metadata = { user_id: request.user };
  if (request.stream === true) body.stream = true;
  return body;
}

/** The text of a message's content (a string or text parts), for places that only take text. */
function textOfContent(content: ChatMessage['content'], param: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part, index) => {
      if (part.type === 'text' && typeof part.text === 'string') return part.text;
      throw invalidRequest(`Only text parts are allowed here, not "${part.type}".`, `${param}[${index}]`);
    })
    .join('\n');
}

function contentBlocks(
  content: ChatMessage['content'],
  param: string,
  allowImages: boolean,
): AnthropicContentBlock[] {
  if (content === undefined || content === null) return [];
  // Anthropic rejects empty text blocks, and an empty string says nothing.
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  const blocks: AnthropicContentBlock[] = [];
  content.forEach((part, index) => {
    if (part.type === 'text' && typeof part.text === 'string') {
      if (part.text !== '') blocks.push({ type: 'text', text: part.text });
      return;
    }
    if (part.type === 'image_url' && allowImages) {
      blocks.push(
        toImageBlock(asString(asRecord(part.image_url)?.url) ?? '', `${param}[${index}].image_url.url`),
      );
      return;
    }
    throw invalidRequest(
      `Content parts of type "${part.type}" are not supported by Anthropic upstreams here; send text${allowImages ? ' or image_url' : ''} parts.`,
      `${param}[${index}]`,
    );
  });
  return blocks;
}

function toolUseBlocks(message: ChatMessage, param: string): AnthropicContentBlock[] {
  if (!Array.isArray(message.tool_calls)) return [];
  return message.tool_calls.map((call: ToolCall, index) => {
    const callParam = `${param}.tool_calls[${index}]`;
    if (call.type !== 'function' || typeof call.function?.name !== 'string') {
      throw invalidRequest('Only function tool calls are supported by Anthropic upstreams.', callParam);
    }
    const argumentsText = call.function.arguments ?? '';
    let input: unknown = {};
    try {
      if (argumentsText.trim() !== '') input = JSON.parse(argumentsText);
    } catch {
      input = undefined;
    }
    if (asRecord(input) === undefined) {
      throw invalidRequest(
        'Tool call arguments must be a JSON object for Anthropic upstreams.',
        `${callParam}.function.arguments`,
      );
    }
    return { type: 'tool_use', id: call.id, name: call.function.name, input };
  });
}

function toAnthropicTools(tools: unknown): AnthropicTool[] {
  if (!Array.isArray(tools)) return [];
  return tools.map((tool: unknown, index) => {
    const record = asRecord(tool);
    const definition = asRecord(record?.function);
    const name = asString(definition?.name);
    if (record?.type !== 'function' || !definition || !name) {
      throw invalidRequest(
        'Only function tools with a name are supported by Anthropic upstreams.',
        `tools[${index}]`,
      );
    }
    const mapped: AnthropicTool = {
      name,
      input_schema: definition.parameters ?? { type: 'object', properties: {} },
    };
    const description = asString(definition.description);
    if (description !== undefined) mapped.description = description;
    return mapped;
  });
}

function toAnthropicToolChoice(choice: unknown, noParallelCalls: boolean): AnthropicToolChoice | undefined {
  let mapped: AnthropicToolChoice | undefined;
  if (choice === undefined || choice === null) mapped = noParallelCalls ? { type: 'auto' } : undefined;
  else if (choice === 'auto') mapped = { type: 'auto' };
  else if (choice === 'none') mapped = { type: 'none' };
  else if (choice === 'required') mapped = { type: 'any' };
  else {
    const name = asString(asRecord(asRecord(choice)?.function)?.name);
    if (asRecord(choice)?.type !== 'function' || !name) {
      throw invalidRequest(
        '`tool_choice` must be "auto", "none", "required" or {"type": "function", "function": {"name": …}}.',
        'tool_choice',
      );
    }
    mapped = { type: 'tool', name };
  }
  if (mapped && noParallelCalls && mapped.type !== 'none') mapped.disable_parallel_tool_use = true;
  return mapped;
}

// ─── Shared: finish reasons and usage ───────────────────────────────────────────────────────────

/** Maps Anthropic's `stop_reason` to OpenAI's `finish_reason`. */

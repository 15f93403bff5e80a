import type { ChatCompletionRequest, ChatMessage } from '@spool/protocol';
import { GatewayError } from '../errors.js';
import type { InputItem, ResponsesRequest } from '../surfaces/responses/responses-request.js';

/**
 * The Responses fields a translation through chat honours; any other field set (not null, not an
 * empty list) is refused with 400 naming it, never silently dropped.
 */
const TRANSLATED_FIELDS = new Set([
  'model',
  'input',
  'instructions',
  'stream',
  'background',
  'store',
  'previous_response_id',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'max_output_tokens',
  'temperature',
  'top_p',
  'text',
  'metadata',
  'user',
  'reasoning',
  'service_tier',
  'prompt_cache_key',
  'safety_identifier',
  // Values that ask for nothing a chat upstream lacks are accepted below (`truncation: "disabled"`,
  // `include: []`, `stream_options`).
  'truncation',
  'include',
  'stream_options',
]);

function refuse(message: string, param: string): GatewayError {
  return GatewayError.of('invalid_request', message, { param });
}

type ChatPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: unknown } };

/** A message's content: a string, or its parts as chat parts. */
function contentOf(content: unknown, param: string): string | ChatPart[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw refuse(`'${param}' must be a string or an array of parts.`, param);
  return content.map((part: unknown, index): ChatPart => {
    const record = (part ?? {}) as Record<string, unknown>;
    const partParam = `${param}[${index}]`;
    switch (record.type) {
      case 'input_text':
      case 'output_text':
      case 'text':
        return { type: 'text', text: String(record.text ?? '') };
      case 'refusal':
        return { type: 'text', text: String(record.refusal ?? '') };
      case 'input_image': {
        if (typeof record.image_url !== 'string')
          throw refuse(
            `'${partParam}': only images given by 'image_url' can be translated to chat completions.`,
            `${partParam}.image_url`,
          );
        const detail = record.detail;
        return { type: 'image_url', image_url: { url: record.image_url, ...(detail ? { detail } : {}) } };
      }
      default:
        throw refuse(
          `'${partParam}.type' ${JSON.stringify(record.type)} cannot be translated to chat completions for this model.`,
          `${partParam}.type`,
        );
    }
  });
}

/** Joins text parts into one string (assistant and system messages take text). */
function textOf(content: string | ChatPart[]): string {
  if (typeof content === 'string') return content;
  return content.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

/** Responses input items as chat messages; consecutive function calls join one assistant message. */
function toChatMessages(items: readonly InputItem[], instructions?: string | null): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (instructions) messages.push({ role: 'system', content: instructions });
  items.forEach((item, index) => {
    const param = `input[${index}]`;
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = item.role;
      const content = contentOf(item.content, `${param}.content`);
      if (role === 'user') messages.push({ role, content } as ChatMessage);
      else if (role === 'assistant' || role === 'system' || role === 'developer')
        messages.push({ role, content: textOf(content) } as ChatMessage);
      else throw refuse(`'${param}.role' must be user, assistant, system or developer.`, `${param}.role`);
      return;
    }
    if (type === 'function_call') {
      const call = {
        id: String(item.call_id ?? ''),
        type: 'function' as const,
        function: { name: String(item.name ?? ''), arguments: String(item.arguments ?? '') },
      };
      const last = messages[messages.length - 1] as
        | (ChatMessage & { tool_calls?: Array<typeof call> })
        | undefined;
      if (last?.role === 'assistant' && last.tool_calls) last.tool_calls.push(call);
      else if (last?.role === 'assistant' && !last.tool_calls) Object.assign(last, { tool_calls: [call] });
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] } as unknown as ChatMessage);
      return;
    }
    if (type === 'function_call_output') {
      const output = item.output;
      const content = typeof output === 'string' ? output : textOf(contentOf(output, `${param}.output`));
      messages.push({ role: 'tool', tool_call_id: String(item.call_id ?? ''), content } as ChatMessage);
      return;
    }
    // Reasoning is the upstream model's own; another model cannot take it as input.
    if (type === 'reasoning') return;
    throw refuse(
      `'${param}.type' ${JSON.stringify(type)} cannot be translated to chat completions for this model.`,
      `${param}.type`,
    );
  });
  return messages;
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);
}

/**
 * Translates a Responses request (its input already the whole conversation) into the chat
 * completion a chat-only upstream serves.
 * @param lenient skip what cannot be translated instead of refusing it (for accounting only).
 * @throws GatewayError 400 with `param` for a field or value a translation cannot honour.
 */
export function toChatRequest(
  request: ResponsesRequest,
  items: readonly InputItem[],
  lenient = false,
): ChatCompletionRequest {
  const attempt = <T>(make: () => T, fallback: T): T => {
    if (!lenient) return make();
    try {
      return make();
    } catch {
      return fallback;
    }
  };
  if (!lenient) {
    for (const [field, value] of Object.entries(request)) {
      if (!TRANSLATED_FIELDS.has(field) && isSet(value))
        throw refuse(
          `'${field}' cannot be honoured for this model: its upstream does not speak the Responses API.`,
          field,
        );
    }
    if (isSet(request.truncation) && request.truncation !== 'disabled' && request.truncation !== 'auto')
      throw refuse("'truncation' must be 'disabled' or 'auto'.", 'truncation');
    if (isSet(request.include))
      throw refuse("'include' cannot be honoured for this model (no upstream Responses API).", 'include');
  }
  const chat: ChatCompletionRequest = {
    model: request.model,
    messages: attempt(() => toChatMessages(items, request.instructions), []),
  };
  if (request.max_output_tokens != null) chat.max_tokens = request.max_output_tokens;
  if (request.temperature != null) chat.temperature = request.temperature;
  if (request.top_p != null) chat.top_p = request.top_p;
  if (request.user !== undefined) chat.user = request.user;
  for (const field of ['service_tier', 'prompt_cache_key', 'safety_identifier', 'parallel_tool_calls'])
    if (request[field] != null) chat[field] = request[field];
  const effort = request.reasoning?.effort;
  if (typeof effort === 'string') chat.reasoning_effort = effort;
  if (isSet(request.tools)) {
    chat.tools = attempt(
      () =>
        (request.tools ?? []).map((tool, index) => {
          if (tool.type !== 'function')
            throw refuse(
              `'tools[${index}].type' ${JSON.stringify(tool.type)} cannot be translated to chat completions for this model; only function tools can.`,
              `tools[${index}].type`,
            );
          const { name, description, parameters, strict } = tool;
          return {
            type: 'function',
            function: {
              name,
              ...(description != null ? { description } : {}),
              ...(parameters != null ? { parameters } : {}),
              ...(strict != null ? { strict } : {}),
            },
          };
        }),
      [],
    );
  }
  if (request.tool_choice != null) {
    chat.tool_choice = attempt(() => toChatToolChoice(request.tool_choice), undefined);
  }
  const format = request.text?.format;
  if (format && format.type !== 'text') {
    chat.response_format = attempt(() => {
      if (format.type === 'json_object') return { type: 'json_object' };
      if (format.type === 'json_schema') {
        const { name, schema, strict, description } = format;
        return {
          type: 'json_schema',
          json_schema: {
            name,
            schema,
            ...(strict != null ? { strict } : {}),
            ...(description != null ? { description } : {}),
          },
        };
      }
      throw refuse(
        `'text.format.type' ${JSON.stringify(format.type)} cannot be translated.`,
        'text.format.type',
      );
    }, undefined);
  }
  return chat;
}

function toChatToolChoice(choice: unknown): unknown {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  const record = (choice ?? {}) as Record<string, unknown>;
  if (record.type === 'function' && typeof record.name === 'string')
    return { type: 'function', function: { name: record.name } };
  throw refuse(
    "'tool_choice' can be translated to chat completions only as auto, none, required or a function.",
    'tool_choice',
  );
}

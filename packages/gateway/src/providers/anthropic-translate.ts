import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  FinishReason,
  ToolCall,
  Usage,
} from '@spool/protocol';
import { DONE_DATA, normalizeErrorBody } from '@spool/protocol';
import { GatewayError, UpstreamError } from '../errors.js';
import type {
  AnthropicContentBlock,
  AnthropicMessage,
  AnthropicMessagesRequest,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicUsage,
} from './anthropic-types.js';

type JsonRecord = Record<string, unknown>;

function asRecord(value: unknown): JsonRecord | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as JsonRecord)
    : undefined;
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function asNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function invalidRequest(message: string, param: string): GatewayError {
  return GatewayError.of('invalid_request', message, { param });
}

// ─── Request: OpenAI chat completion → Anthropic Messages ───────────────────────────────────────

/** What the request mapping needs besides the request. */
export interface AnthropicRequestOptions {
  /** `max_tokens` when the request sets neither `max_tokens` nor `max_completion_tokens` (Anthropic requires one). */
  defaultMaxTokens: number;
}

const DATA_URL_PATTERN = /^data:(image\/(?:png|jpeg|gif|webp));base64,(.+)$/s;

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
      blocks.push(imageBlock(part.image_url, `${param}[${index}]`));
      return;
    }
    throw invalidRequest(
      `Content parts of type "${part.type}" are not supported by Anthropic upstreams here; send text${allowImages ? ' or image_url' : ''} parts.`,
      `${param}[${index}]`,
    );
  });
  return blocks;
}

function imageBlock(imageUrl: unknown, param: string): AnthropicContentBlock {
  const url = asString(asRecord(imageUrl)?.url) ?? '';
  const dataUrl = DATA_URL_PATTERN.exec(url);
  if (dataUrl?.[1] && dataUrl[2]) {
    return { type: 'image', source: { type: 'base64', media_type: dataUrl[1], data: dataUrl[2] } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw invalidRequest(
    'Images must be https URLs or base64 data URLs of type image/png, image/jpeg, image/gif or image/webp.',
    `${param}.image_url.url`,
  );
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

function promptTokensOf(usage: AnthropicUsage): number {
  // OpenAI's prompt_tokens counts cached tokens; Anthropic reports them apart from input_tokens.
  return (
    (usage.input_tokens ?? 0) +
    (usage.cache_creation_input_tokens ?? 0) +
    (usage.cache_read_input_tokens ?? 0)
  );
}

function toUsage(usage: AnthropicUsage): Usage {
  const promptTokens = promptTokensOf(usage);
  const completionTokens = usage.output_tokens ?? 0;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

function mergeUsage(into: AnthropicUsage, update: unknown): void {
  const record = asRecord(update);
  if (!record) return;
  for (const key of [
    'input_tokens',
    'output_tokens',
    'cache_creation_input_tokens',
    'cache_read_input_tokens',
  ] as const) {
    const value = asNumber(record[key]);
    if (value !== undefined) into[key] = value;
  }
}

// ─── Stream: Anthropic SSE events → OpenAI chunks ───────────────────────────────────────────────

/** What the stream translator needs to know about the request. */
export interface AnthropicStreamTranslatorOptions {
  /** The model name every chunk carries (the one the request named). */
  model: string;
  /** Emit a final usage chunk (`stream_options.include_usage`). @default false */
  includeUsage?: boolean | undefined;
  /** Clock in milliseconds; `created` is taken from it at `message_start`. @default Date.now */
  now?: (() => number) | undefined;
}

type Delta = ChatCompletionChunk['choices'][number]['delta'];
type ChunkBase = Pick<ChatCompletionChunk, 'id' | 'object' | 'created' | 'model'>;

/**
 * Turns the events of an Anthropic Messages stream, one at a time, into OpenAI
 * `chat.completion.chunk` data strings, ending with `[DONE]` (or one OpenAI-shaped error event).
 * Tool calls are numbered 0, 1, … in order of appearance, whatever Anthropic's block index.
 * @example
 * const translator = new AnthropicStreamTranslator({ model: 'claude-sonnet', includeUsage: true });
 * for await (const event of readSseEvents(body)) for (const data of translator.push(event)) send(data);
 */
export class AnthropicStreamTranslator {
  readonly #options: AnthropicStreamTranslatorOptions;
  #base: ChunkBase | undefined;
  readonly #toolIndexByBlock = new Map<number, number>();
  readonly #usage: AnthropicUsage = {};
  #done = false;

  constructor(options: AnthropicStreamTranslatorOptions) {
    this.#options = options;
  }

  /** Whether the stream has ended (`[DONE]` or an error event was returned); later events are ignored. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Translates one upstream event into zero or more OpenAI data strings.
   * @throws UpstreamError (502 `upstream_error`) when the event is not JSON or comes before `message_start`.
   */
  push(event: { event?: string | undefined; data: string }): string[] {
    if (this.#done) return [];
    let payload: JsonRecord | undefined;
    try {
      payload = asRecord(JSON.parse(event.data));
    } catch {}
    if (!payload) {
      throw UpstreamError.ofCode(
        'upstream_error',
        `The Anthropic upstream sent an event that is not a JSON object: ${event.data.slice(0, 200)}`,
      );
    }
    const type = asString(payload.type) ?? event.event;
    switch (type) {
      case 'message_start':
        return this.#messageStart(payload);
      case 'content_block_start':
        return this.#blockStart(payload);
      case 'content_block_delta':
        return this.#blockDelta(payload);
      case 'message_delta': {
        mergeUsage(this.#usage, payload.usage);
        const finishReason = toFinishReason(asString(asRecord(payload.delta)?.stop_reason));
        return finishReason ? [this.#chunk({}, finishReason)] : [];
      }
      case 'message_stop': {
        this.#done = true;
        const out: string[] = [];
        if (this.#options.includeUsage) {
          out.push(JSON.stringify({ ...this.#started(), choices: [], usage: toUsage(this.#usage) }));
        }
        out.push(DONE_DATA);
        return out;
      }
      case 'error':
        this.#done = true;
        return [
          JSON.stringify(normalizeErrorBody(502, payload, 'The Anthropic upstream failed mid-stream.')),
        ];
      default:
        // ping, content_block_stop, and event types Anthropic may add later (its versioning policy).
        return [];
    }
  }

  #messageStart(payload: JsonRecord): string[] {
    const message = asRecord(payload.message) ?? {};
    mergeUsage(this.#usage, message.usage);
    const now = this.#options.now ?? Date.now;
    this.#base = {
      id: `chatcmpl-${asString(message.id) ?? ''}`,
      object: 'chat.completion.chunk',
      created: Math.floor(now() / 1000),
      model: this.#options.model,
    };
    return [this.#chunk({ role: 'assistant', content: '' })];
  }

  #blockStart(payload: JsonRecord): string[] {
    const block = asRecord(payload.content_block);
    if (block?.type === 'text') {
      const text = asString(block.text) ?? '';
      return text === '' ? [] : [this.#chunk({ content: text })];
    }
    if (block?.type !== 'tool_use') return []; // thinking and server-tool blocks have no OpenAI form
    const toolIndex = this.#toolIndexByBlock.size;
    this.#toolIndexByBlock.set(asNumber(payload.index) ?? -1, toolIndex);
    return [
      this.#chunk({
        tool_calls: [
          {
            index: toolIndex,
            id: asString(block.id) ?? '',
            type: 'function',
            function: { name: asString(block.name) ?? '', arguments: '' },
          },
        ],
      }),
    ];
  }

  #blockDelta(payload: JsonRecord): string[] {
    const delta = asRecord(payload.delta);
    if (delta?.type === 'text_delta') {
      const text = asString(delta.text) ?? '';
      return text === '' ? [] : [this.#chunk({ content: text })];
    }
    if (delta?.type === 'input_json_delta') {
      const toolIndex = this.#toolIndexByBlock.get(asNumber(payload.index) ?? -1);
      const fragment = asString(delta.partial_json) ?? '';
      if (toolIndex === undefined || fragment === '') return [];
      return [this.#chunk({ tool_calls: [{ index: toolIndex, function: { arguments: fragment } }] })];
    }
    return []; // thinking_delta, signature_delta, citations_delta
  }

  #started(): ChunkBase {
    if (!this.#base) {
      throw UpstreamError.ofCode(
        'upstream_error',
        'The Anthropic upstream sent events before message_start.',
      );
    }
    return this.#base;
  }

  #chunk(delta: Delta, finishReason: FinishReason | null = null): string {
    return JSON.stringify({
      ...this.#started(),
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    });
  }
}

// ─── Response: Anthropic message → OpenAI chat.completion ───────────────────────────────────────

/**
 * Maps a non-streamed Messages answer to a `chat.completion`: text blocks joined, `tool_use`
 * blocks as `tool_calls`, the finish reason and usage.
 * @throws UpstreamError (502 `upstream_error`) when the body is not a Messages answer.
 */
export function fromAnthropicResponse(
  body: unknown,
  options: { model: string; now?: (() => number) | undefined },
): ChatCompletion {
  const message = asRecord(body);
  if (!message || !Array.isArray(message.content)) {
    throw UpstreamError.ofCode('upstream_error', 'The Anthropic upstream answered without a message body.');
  }
  let text: string | null = null;
  const toolCalls: ToolCall[] = [];
  for (const entry of message.content) {
    const block = asRecord(entry);
    if (block?.type === 'text') text = (text ?? '') + (asString(block.text) ?? '');
    else if (block?.type === 'tool_use') {
      toolCalls.push({
        id: asString(block.id) ?? '',
        type: 'function',
        function: { name: asString(block.name) ?? '', arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  const usage: AnthropicUsage = {};
  mergeUsage(usage, message.usage);
  const now = options.now ?? Date.now;
  return {
    id: `chatcmpl-${asString(message.id) ?? ''}`,
    object: 'chat.completion',
    created: Math.floor(now() / 1000),
    model: options.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: toFinishReason(asString(message.stop_reason)),
      },
    ],
    usage: toUsage(usage),
  };
}

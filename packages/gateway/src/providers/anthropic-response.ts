import type { ChatCompletion, ChatCompletionChunk, FinishReason, ToolCall, Usage } from '@spool/protocol';
import { DONE_DATA, normalizeErrorBody, toFinishReason } from '@spool/protocol';
import { UpstreamError } from '../errors.js';
import { asNumber, asRecord, asString, type JsonRecord } from './anthropic-json.js';
import type { AnthropicUsage } from './anthropic-types.js';

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
 * for await (const event of events) for (const data of translator.push(event)) send(data);
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

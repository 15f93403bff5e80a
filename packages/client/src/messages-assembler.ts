import { toFinishReason, type Usage } from '@spool/protocol';
import type { ChatDeltaEvent } from './delta-assembler.js';

/** A content block of an Anthropic message, as streamed: text, tool_use, thinking, or a type passed on as sent. */
export interface MessageContentBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  thinking?: string;
  signature?: string;
  [key: string]: unknown;
}

/** An Anthropic Messages answer, assembled from its stream. */
export interface AssembledMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: MessageContentBlock[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: { input_tokens: number; output_tokens: number; [key: string]: unknown };
}

type Json = Record<string, unknown>;

const asRecord = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;

function emptyMessage(): AssembledMessage {
  return {
    id: '',
    type: 'message',
    role: 'assistant',
    model: '',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 0, output_tokens: 0 },
  };
}

/**
 * Folds the events of an Anthropic Messages stream into the message and into the same events a chat
 * stream yields: `text-delta` for text, `tool-call-delta` for tool_use blocks (numbered 0, 1, … in
 * order, their JSON input in pieces), `usage` and `finish` (the stop reason as a finish reason).
 * Event types it does not know are skipped. Pure: no I/O, no clock.
 */
export class MessagesAssembler {
  #message: AssembledMessage | undefined;
  #blocks: MessageContentBlock[] = [];
  #json = new Map<number, string>();
  #toolIndex = new Map<number, number>();
  #text = '';

  /** Forgets everything (a restarted stream). */
  reset(): void {
    this.#message = undefined;
    this.#blocks = [];
    this.#json = new Map();
    this.#toolIndex = new Map();
    this.#text = '';
  }

  /** The text blocks' text so far. */
  text(): string {
    return this.#text;
  }

  /** Applies one event's data; returns what it contributed. */
  apply(data: string): ChatDeltaEvent[] {
    let payload: Json | undefined;
    try {
      payload = asRecord(JSON.parse(data));
    } catch {
      return [];
    }
    if (!payload) return [];
    const index = typeof payload.index === 'number' ? payload.index : -1;
    switch (payload.type) {
      case 'message_start': {
        const message = asRecord(payload.message) ?? {};
        this.#message = {
          ...(message as unknown as AssembledMessage),
          content: [],
          usage: { input_tokens: 0, output_tokens: 0, ...(asRecord(message.usage) ?? {}) },
        };
        return [];
      }
      case 'content_block_start': {
        const block = { ...(asRecord(payload.content_block) ?? { type: 'unknown' }) } as MessageContentBlock;
        this.#blocks[index] = block;
        if (block.type !== 'tool_use') return [];
        const toolIndex = this.#toolIndex.size;
        this.#toolIndex.set(index, toolIndex);
        return [
          {
            type: 'tool-call-delta',
            choiceIndex: 0,
            index: toolIndex,
            id: block.id,
            name: block.name,
            argumentsDelta: '',
          },
        ];
      }
      case 'content_block_delta':
        return this.#delta(index, asRecord(payload.delta) ?? {});
      case 'content_block_stop': {
        const json = this.#json.get(index);
        const block = this.#blocks[index];
        if (json !== undefined && block) {
          try {
            block.input = JSON.parse(json === '' ? '{}' : json);
          } catch {
            block.input = json;
          }
        }
        return [];
      }
      case 'message_delta': {
        // A resume after message_start still learns the stop reason and usage.
        this.#message ??= emptyMessage();
        const message = this.#message;
        const delta = asRecord(payload.delta) ?? {};
        if (typeof delta.stop_reason === 'string') message.stop_reason = delta.stop_reason;
        if (typeof delta.stop_sequence === 'string') message.stop_sequence = delta.stop_sequence;
        Object.assign(message.usage, asRecord(payload.usage) ?? {});
        const usage: Usage = {
          prompt_tokens: message.usage.input_tokens,
          completion_tokens: message.usage.output_tokens,
          total_tokens: message.usage.input_tokens + message.usage.output_tokens,
        };
        const out: ChatDeltaEvent[] = [{ type: 'usage', usage }];
        const finishReason = toFinishReason(message.stop_reason);
        if (finishReason) out.push({ type: 'finish', choiceIndex: 0, finishReason });
        return out;
      }
      default:
        return [];
    }
  }

  /** The message assembled so far. */
  toMessage(): AssembledMessage {
    return { ...(this.#message ?? emptyMessage()), content: this.#blocks.filter(Boolean) };
  }

  #delta(index: number, delta: Json): ChatDeltaEvent[] {
    const block = this.#blocks[index];
    if (!block) return [];
    const append = (field: 'text' | 'thinking' | 'signature', value: unknown) => {
      if (typeof value === 'string') block[field] = (block[field] ?? '') + value;
    };
    switch (delta.type) {
      case 'text_delta': {
        const text = typeof delta.text === 'string' ? delta.text : '';
        append('text', text);
        this.#text += text;
        return text === '' ? [] : [{ type: 'text-delta', choiceIndex: 0, delta: text, text: this.#text }];
      }
      case 'input_json_delta': {
        const fragment = typeof delta.partial_json === 'string' ? delta.partial_json : '';
        this.#json.set(index, (this.#json.get(index) ?? '') + fragment);
        const toolIndex = this.#toolIndex.get(index);
        if (toolIndex === undefined || fragment === '') return [];
        return [
          {
            type: 'tool-call-delta',
            choiceIndex: 0,
            index: toolIndex,
            id: block.id,
            name: block.name,
            argumentsDelta: fragment,
          },
        ];
      }
      case 'thinking_delta':
        append('thinking', delta.thinking);
        return [];
      case 'signature_delta':
        append('signature', delta.signature);
        return [];
      case 'citations_delta':
        block.citations = [...(Array.isArray(block.citations) ? block.citations : []), delta.citation];
        return [];
      default:
        return [];
    }
  }
}

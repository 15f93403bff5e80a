import { normalizeErrorBody } from '@spool/protocol';
import { UpstreamError } from '../../errors.js';
import { asRecord, asString, type JsonRecord } from '../../providers/anthropic-json.js';

/**
 * Builds the non-streamed Messages answer from the events of a Messages stream (native or
 * translated), as Anthropic's SDKs do: `message_start`'s message, each block from its start and
 * deltas (`text_delta`, `input_json_delta`, `thinking_delta`, `signature_delta`, `citations_delta`),
 * then `message_delta`'s stop reason and usage. Blocks and deltas of types it does not know are kept
 * as they started, so nothing a native upstream sent is lost.
 */
export class MessageAccumulator {
  #message: JsonRecord | undefined;
  readonly #blocks: JsonRecord[] = [];
  readonly #json = new Map<number, string>();

  /** Takes one event's data. @throws UpstreamError for an `error` event or events before `message_start`. */
  push(data: string): void {
    let payload: JsonRecord | undefined;
    try {
      payload = asRecord(JSON.parse(data));
    } catch {}
    if (!payload) return;
    switch (payload.type) {
      case 'message_start':
        this.#message = { ...(asRecord(payload.message) ?? {}) };
        return;
      case 'content_block_start': {
        const index = Number(payload.index);
        this.#blocks[index] = { ...(asRecord(payload.content_block) ?? {}) };
        return;
      }
      case 'content_block_delta':
        this.#delta(Number(payload.index), asRecord(payload.delta) ?? {});
        return;
      case 'content_block_stop': {
        const index = Number(payload.index);
        const json = this.#json.get(index);
        const block = this.#blocks[index];
        if (json !== undefined && block) {
          try {
            block.input = JSON.parse(json === '' ? '{}' : json);
          } catch {
            throw UpstreamError.ofCode(
              'upstream_error',
              'The upstream streamed tool input that is not JSON.',
            );
          }
        }
        return;
      }
      case 'message_delta': {
        const message = this.#started();
        Object.assign(message, asRecord(payload.delta) ?? {});
        message.usage = { ...(asRecord(message.usage) ?? {}), ...(asRecord(payload.usage) ?? {}) };
        return;
      }
      case 'error': {
        const body = normalizeErrorBody(502, payload, 'The upstream failed.');
        throw new UpstreamError(502, body);
      }
      default:
    }
  }

  /** The whole message. @throws UpstreamError when no `message_start` came. */
  message(): JsonRecord {
    return { ...this.#started(), content: this.#blocks.filter(Boolean) };
  }

  #started(): JsonRecord {
    if (!this.#message) {
      throw UpstreamError.ofCode('upstream_error', 'The upstream ended without starting a message.');
    }
    return this.#message;
  }

  #delta(index: number, delta: JsonRecord): void {
    const block = this.#blocks[index];
    if (!block) return;
    const append = (field: string, value: unknown) => {
      if (typeof value === 'string') block[field] = (asString(block[field]) ?? '') + value;
    };
    switch (delta.type) {
      case 'text_delta':
        append('text', delta.text);
        return;
      case 'thinking_delta':
        append('thinking', delta.thinking);
        return;
      case 'signature_delta':
        append('signature', delta.signature);
        return;
      case 'input_json_delta':
        this.#json.set(index, (this.#json.get(index) ?? '') + (asString(delta.partial_json) ?? ''));
        return;
      case 'citations_delta':
        block.citations = [...(Array.isArray(block.citations) ? block.citations : []), delta.citation];
        return;
      default:
    }
  }
}

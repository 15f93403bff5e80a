import {
  DONE_DATA,
  type OpenAIErrorBody,
  type TranslatedStopReason,
  toStopReason,
  type Usage,
} from '@spool/protocol';
import { asNumber, asRecord, asString, type JsonRecord } from '../providers/anthropic-json.js';
import type { UpstreamEvent } from '../providers/provider.js';
import { messagesErrorEvent } from '../surfaces/messages/messages-events.js';
import { type StreamTranslator, TranslatedEvents } from './translated-events.js';

/** What the stream translator needs to know about the request. */
export interface ChatToMessagesStreamOptions {
  /** The model name the answer carries (the one the request named). */
  model: string;
}

/** Anthropic's usage as a translated answer reports it. */
export interface TranslatedUsage {
  input_tokens: number;
  output_tokens: number;
}

/** A chat `usage` object as Anthropic's. */
export function toMessagesUsage(usage: Partial<Usage> | undefined): TranslatedUsage {
  return { input_tokens: usage?.prompt_tokens ?? 0, output_tokens: usage?.completion_tokens ?? 0 };
}

/** The id of a Messages answer made from a chat completion's id. */
export function messageIdOf(chatId: string | undefined): string {
  return `msg_${(chatId ?? '').replace(/^chatcmpl-/, '') || 'spool'}`;
}

function event(type: string, payload: JsonRecord): UpstreamEvent {
  return { event: type, data: JSON.stringify({ type, ...payload }) };
}

/**
 * A text delta, nearly every event of a stream: written from its two fields, byte for byte what
 * `event` would write (a generic stringify of each was the largest cost of translating a stream).
 */
function textDelta(index: number, text: string): UpstreamEvent {
  return {
    event: 'content_block_delta',
    data: `{"type":"content_block_delta","index":${index},"delta":{"type":"text_delta","text":${JSON.stringify(text)}}}`,
  };
}

type OpenBlock = { kind: 'text'; index: number } | { kind: 'tool'; index: number; chatIndex: number };

/**
 * Turns the data of an OpenAI chat-completions stream, one chunk at a time, into the events of an
 * Anthropic Messages stream in Anthropic's order: `message_start`; per block `content_block_start`,
 * its `content_block_delta`s (`text_delta`, `input_json_delta`), `content_block_stop`; then
 * `message_delta` (stop reason and usage) and `message_stop`. Blocks never overlap: text and each
 * tool call get their own index, 0, 1, … in order of appearance. The final `message_delta` waits
 * for `[DONE]`, since chat streams report usage after their finish reason.
 * @example
 * const translator = new ChatToMessagesStream({ model: 'sim-1' });
 * for await (const chunk of chatEvents) for (const out of translator.push(chunk.data)) send(out);
 */
export class ChatToMessagesStream implements StreamTranslator {
  readonly #model: string;
  #started = false;
  #open: OpenBlock | undefined;
  #nextIndex = 0;
  /** Block index of each chat tool-call index seen. */
  readonly #toolBlocks = new Map<number, number>();
  #stopReason: TranslatedStopReason | undefined;
  #usage: Partial<Usage> | undefined;
  #done = false;

  constructor(options: ChatToMessagesStreamOptions) {
    this.#model = options.model;
  }

  /** Whether the stream has ended (`message_stop` or an error event was returned). */
  get done(): boolean {
    return this.#done;
  }

  /** Whether the upstream said why it stopped: only the end may still be missing. */
  get finished(): boolean {
    return this.#stopReason !== undefined;
  }

  /**
   * Translates the data of one chat event (`parsed`: the data as JSON, when already parsed); later
   * events after the end are ignored.
   */
  push(data: string, parsed?: unknown): UpstreamEvent[] {
    if (this.#done) return [];
    if (data === DONE_DATA) return this.end();
    let chunk: JsonRecord | undefined;
    try {
      chunk = asRecord(parsed !== undefined ? parsed : JSON.parse(data));
    } catch {}
    if (!chunk)
      return this.fail(
        {
          error: {
            message: `The upstream sent an event that is not JSON: ${data.slice(0, 200)}`,
            type: 'api_error',
            code: 'upstream_error',
            param: null,
          },
        },
        502,
      );
    if (asRecord(chunk.error)) return this.fail(chunk as unknown as OpenAIErrorBody, 502);
    const out: UpstreamEvent[] = [];
    if (!this.#started) out.push(this.#messageStart(asString(chunk.id)));
    const usage = asRecord(chunk.usage);
    if (usage) this.#usage = usage as Partial<Usage>;
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    const choice = asRecord(choices[0]);
    if (!choice) return out;
    const delta = asRecord(choice.delta) ?? {};
    const text = asString(delta.content) ?? asString(delta.refusal);
    if (text) this.#text(text, out);
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls) this.#toolCall(asRecord(call) ?? {}, out);
    }
    const finishReason = asString(choice.finish_reason);
    if (finishReason) {
      this.#stopReason = toStopReason(finishReason);
      this.#closeBlock(out);
    }
    return out;
  }

  /**
   * Ends the message: closes the open block, then `message_delta` and `message_stop`. Called for
   * `[DONE]`, and by the relay for a stream that finished but lost its `[DONE]`.
   */
  end(): UpstreamEvent[] {
    if (this.#done) return [];
    const out: UpstreamEvent[] = [];
    if (!this.#started) out.push(this.#messageStart(undefined));
    this.#closeBlock(out);
    this.#done = true;
    out.push(
      event('message_delta', {
        delta: { stop_reason: this.#stopReason ?? 'end_turn', stop_sequence: null },
        usage: toMessagesUsage(this.#usage),
      }),
      event('message_stop', {}),
    );
    return out;
  }

  /** Ends the stream with one `error` event (after whatever was already sent). */
  fail(body: OpenAIErrorBody, status: number): UpstreamEvent[] {
    if (this.#done) return [];
    this.#done = true;
    return [messagesErrorEvent(body, status)];
  }

  #messageStart(chatId: string | undefined): UpstreamEvent {
    this.#started = true;
    return event('message_start', {
      message: {
        id: messageIdOf(chatId),
        type: 'message',
        role: 'assistant',
        model: this.#model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // Chat streams report usage at their end; the final message_delta carries both counts.
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  }

  #text(text: string, out: UpstreamEvent[]): void {
    if (this.#open?.kind !== 'text') {
      this.#closeBlock(out);
      const index = this.#nextIndex++;
      this.#open = { kind: 'text', index };
      out.push(event('content_block_start', { index, content_block: { type: 'text', text: '' } }));
    }
    out.push(textDelta(this.#open.index, text));
  }

  #toolCall(call: JsonRecord, out: UpstreamEvent[]): void {
    const chatIndex = asNumber(call.index) ?? 0;
    const fn = asRecord(call.function) ?? {};
    let index = this.#toolBlocks.get(chatIndex);
    if (index === undefined) {
      this.#closeBlock(out);
      index = this.#nextIndex++;
      this.#toolBlocks.set(chatIndex, index);
      this.#open = { kind: 'tool', index, chatIndex };
      out.push(
        event('content_block_start', {
          index,
          content_block: {
            type: 'tool_use',
            id: asString(call.id) ?? `toolu_${index}`,
            name: asString(fn.name) ?? '',
            input: {},
          },
        }),
      );
    }
    const fragment = asString(fn.arguments);
    if (fragment) {
      out.push(
        event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: fragment } }),
      );
    }
  }

  #closeBlock(out: UpstreamEvent[]): void {
    if (!this.#open) return;
    out.push(event('content_block_stop', { index: this.#open.index }));
    this.#open = undefined;
  }
}

/**
 * A chat-completions event stream as a Messages event stream. A chat stream that finished (a
 * finish reason) but lost its `[DONE]` still ends with `message_delta` and `message_stop`; one that
 * ended before finishing ends without them, for the relay to end it with an error event.
 * Everything one upstream read translated to is handed over as one batch (`takeBuffered`):
 * `message_start`, `content_block_start` and the first delta come from one chunk.
 */
export class ChatToMessagesEvents extends TranslatedEvents {
  constructor(events: AsyncIterable<UpstreamEvent>, options: ChatToMessagesStreamOptions) {
    super(events, new ChatToMessagesStream(options));
  }
}

import { type ChatCompletionChunk, DONE_DATA } from '@spool/protocol';
import type { UpstreamEvent } from '../providers/provider.js';
import { type StreamTranslator, TranslatedEvents } from './translated-events.js';

/** A Responses event before Spool numbers it (`sequence_number` is added by the spool). */
export interface ResponsesEvent {
  type: string;
  [key: string]: unknown;
}

/** The Response object's fields a translated stream starts from (everything but output and status). */
export type ResponseBase = Record<string, unknown> & { id: string };

interface TextItem {
  kind: 'text';
  index: number;
  id: string;
  text: string;
}

interface CallItem {
  kind: 'call';
  index: number;
  id: string;
  callId: string;
  name: string;
  arguments: string;
}

type Usage = { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } & {
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
};

const TEXT_DELTA = 'response.output_text.delta';

/** A text delta event (its key order is what `toUpstream` writes). */
function textDelta(item: TextItem, text: string) {
  return {
    type: TEXT_DELTA,
    item_id: item.id,
    output_index: item.index,
    content_index: 0,
    delta: text,
    logprobs: [] as never[],
  };
}

/**
 * Turns a chat-completions stream (its parsed chunks) into a Responses stream, event by event: a
 * pure state machine, fed one chunk at a time. Text becomes a `message` item, each tool call a
 * `function_call` item; `finish_reason` `length`/`content_filter` ends `incomplete`, others
 * `completed`, with the chat usage as Responses usage. Choice 0 only (Responses has no `n`).
 */
export class ChatToResponses {
  readonly #base: ResponseBase;
  readonly #output: Array<Record<string, unknown>> = [];
  #started = false;
  #ended = false;
  #text: TextItem | undefined;
  readonly #calls = new Map<number, CallItem>();
  #finishReason: string | undefined;
  #usage: Usage | undefined;
  #items = 0;

  constructor(base: ResponseBase) {
    this.#base = base;
  }

  /** Whether the terminal event was produced. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Whether the chat stream said it finished (a `finish_reason`): its end then completes the response. */
  get finished(): boolean {
    return this.#finishReason !== undefined;
  }

  #response(status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { ...this.#base, status, output: this.#output, ...extra };
  }

  /** `response.created` and `response.in_progress`, once. */
  start(): ResponsesEvent[] {
    if (this.#started) return [];
    this.#started = true;
    return [
      { type: 'response.created', response: this.#response('in_progress', { output: [] }) },
      { type: 'response.in_progress', response: this.#response('in_progress', { output: [] }) },
    ];
  }

  /** The events one chat chunk (or an error body) becomes. */
  push(chunk: ChatCompletionChunk | { error?: unknown }): ResponsesEvent[] {
    if (this.#ended) return [];
    const events = this.start();
    if ('error' in chunk && chunk.error) {
      this.#ended = true;
      const error = chunk.error as { code?: unknown; message?: unknown; param?: unknown };
      events.push({
        type: 'error',
        code: error.code ?? null,
        message: error.message ?? 'The upstream failed.',
        param: error.param ?? null,
        error: chunk.error,
      });
      return events;
    }
    const { choices, usage } = chunk as ChatCompletionChunk & { usage?: Usage | null };
    if (usage) this.#usage = usage;
    const choice = choices?.find((candidate) => candidate.index === 0) ?? choices?.[0];
    if (!choice) return events;
    const delta = (choice.delta ?? {}) as {
      content?: string | null;
      refusal?: string | null;
      tool_calls?: Array<{ index: number; id?: string; function?: { name?: string; arguments?: string } }>;
    };
    const text = (delta.content ?? '') + (delta.refusal ?? '');
    if (text !== '') {
      if (!this.#text) this.#openText(events);
      const item = this.#text as TextItem;
      item.text += text;
      events.push(textDelta(item, text));
    }
    for (const call of delta.tool_calls ?? []) {
      let item = this.#calls.get(call.index);
      if (!item) {
        this.#closeText(events);
        item = {
          kind: 'call',
          index: this.#output.length,
          id: `fc_${this.#base.id.slice('resp_'.length)}_${this.#items++}`,
          callId: call.id ?? `call_${this.#items}`,
          name: call.function?.name ?? '',
          arguments: '',
        };
        this.#calls.set(call.index, item);
        const added = this.#callItem(item, 'in_progress');
        this.#output.push(added);
        events.push({ type: 'response.output_item.added', output_index: item.index, item: { ...added } });
      }
      const argumentsDelta = call.function?.arguments ?? '';
      if (argumentsDelta !== '') {
        item.arguments += argumentsDelta;
        events.push({
          type: 'response.function_call_arguments.delta',
          item_id: item.id,
          output_index: item.index,
          delta: argumentsDelta,
        });
      }
    }
    if (choice.finish_reason) this.#finishReason = choice.finish_reason;
    return events;
  }

  /** The closing events and the terminal one, once the chat stream ended after finishing (or `[DONE]`). */
  end(): ResponsesEvent[] {
    if (this.#ended) return [];
    const events = this.start();
    this.#ended = true;
    this.#closeText(events);
    for (const item of this.#calls.values()) {
      events.push({
        type: 'response.function_call_arguments.done',
        item_id: item.id,
        output_index: item.index,
        arguments: item.arguments,
      });
      const done = this.#callItem(item, 'completed');
      this.#output[item.index] = done;
      events.push({ type: 'response.output_item.done', output_index: item.index, item: done });
    }
    this.#calls.clear();
    const usage = this.#usage
      ? {
          input_tokens: this.#usage.prompt_tokens ?? 0,
          input_tokens_details: { cached_tokens: this.#usage.prompt_tokens_details?.cached_tokens ?? 0 },
          output_tokens: this.#usage.completion_tokens ?? 0,
          output_tokens_details: {
            reasoning_tokens: this.#usage.completion_tokens_details?.reasoning_tokens ?? 0,
          },
          total_tokens:
            this.#usage.total_tokens ??
            (this.#usage.prompt_tokens ?? 0) + (this.#usage.completion_tokens ?? 0),
        }
      : null;
    const incomplete =
      this.#finishReason === 'length'
        ? 'max_output_tokens'
        : this.#finishReason === 'content_filter'
          ? 'content_filter'
          : undefined;
    if (incomplete) {
      events.push({
        type: 'response.incomplete',
        response: this.#response('incomplete', { incomplete_details: { reason: incomplete }, usage }),
      });
    } else {
      events.push({ type: 'response.completed', response: this.#response('completed', { usage }) });
    }
    return events;
  }

  #openText(events: ResponsesEvent[]): void {
    const item: TextItem = {
      kind: 'text',
      index: this.#output.length,
      id: `msg_${this.#base.id.slice('resp_'.length)}_${this.#items++}`,
      text: '',
    };
    this.#text = item;
    const added = { id: item.id, type: 'message', status: 'in_progress', role: 'assistant', content: [] };
    this.#output.push(added);
    events.push({ type: 'response.output_item.added', output_index: item.index, item: added });
    events.push({
      type: 'response.content_part.added',
      item_id: item.id,
      output_index: item.index,
      content_index: 0,
      part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
    });
  }

  #closeText(events: ResponsesEvent[]): void {
    const item = this.#text;
    if (!item) return;
    this.#text = undefined;
    const part = { type: 'output_text', text: item.text, annotations: [], logprobs: [] };
    events.push({
      type: 'response.output_text.done',
      item_id: item.id,
      output_index: item.index,
      content_index: 0,
      text: item.text,
      logprobs: [],
    });
    events.push({
      type: 'response.content_part.done',
      item_id: item.id,
      output_index: item.index,
      content_index: 0,
      part,
    });
    const done = { id: item.id, type: 'message', status: 'completed', role: 'assistant', content: [part] };
    this.#output[item.index] = done;
    events.push({ type: 'response.output_item.done', output_index: item.index, item: done });
  }

  #callItem(item: CallItem, status: string): Record<string, unknown> {
    return {
      id: item.id,
      type: 'function_call',
      status,
      arguments: item.arguments,
      call_id: item.callId,
      name: item.name,
    };
  }
}

/**
 * A translated event as the relay takes it: its JSON, byte for byte `JSON.stringify(event)`. Text
 * deltas, nearly every event of a stream, are written from their fields (`textDelta` makes them,
 * in this key order): a generic stringify of each was the largest single cost of translating a
 * stream.
 */
function toUpstream(event: ResponsesEvent): UpstreamEvent {
  if (event.type === TEXT_DELTA) {
    const { item_id, output_index, content_index, delta } = event as ReturnType<typeof textDelta>;
    return {
      event: TEXT_DELTA,
      data: `{"type":"${TEXT_DELTA}","item_id":${JSON.stringify(item_id)},"output_index":${output_index},"content_index":${content_index},"delta":${JSON.stringify(delta)},"logprobs":[]}`,
    };
  }
  return { event: event.type, data: JSON.stringify(event) };
}

/** {@link ChatToResponses} fed the data of chat events, its events serialized as the relay takes them. */
class ChatDataToResponses implements StreamTranslator {
  readonly #translator: ChatToResponses;

  constructor(base: ResponseBase) {
    this.#translator = new ChatToResponses(base);
  }

  get done(): boolean {
    return this.#translator.ended;
  }

  get finished(): boolean {
    return this.#translator.finished;
  }

  push(data: string, parsed?: unknown): UpstreamEvent[] {
    if (data === DONE_DATA) return this.end();
    let chunk: ChatCompletionChunk | { error?: unknown };
    try {
      chunk = (parsed !== undefined ? parsed : JSON.parse(data)) as ChatCompletionChunk;
    } catch {
      // Unparseable chat events are skipped.
      return [];
    }
    return this.#translator.push(chunk).map(toUpstream);
  }

  end(): UpstreamEvent[] {
    return this.#translator.end().map(toUpstream);
  }
}

/**
 * A chat-completions event stream as a Responses event stream, everything one upstream read
 * translated to handed over as one batch (see {@link TranslatedEvents}). Unparseable chat events
 * are skipped; a chat stream that ends without finishing produces no terminal event (the relay then
 * ends it with an error: a truncation is never read as complete).
 */
export function translateChatStream(
  events: AsyncIterable<UpstreamEvent>,
  base: ResponseBase,
): TranslatedEvents {
  return new TranslatedEvents(events, new ChatDataToResponses(base));
}

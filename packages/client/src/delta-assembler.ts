import type { ChatCompletion, ChatCompletionChunk, FinishReason, ToolCall, Usage } from '@spool/protocol';

/** New content text for one choice. */
export interface TextDeltaEvent {
  type: 'text-delta';
  /** Which choice (`n` > 1 streams several). */
  choiceIndex: number;
  /** The text this chunk added. */
  delta: string;
  /** The choice's whole text so far, `delta` included. */
  text: string;
}

/** A fragment of a tool call; fragments with the same `index` belong to the same call. */
export interface ToolCallDeltaEvent {
  type: 'tool-call-delta';
  choiceIndex: number;
  /** The tool call's position in the message, as OpenAI numbers it. */
  index: number;
  /** The call id, once the server has sent it. */
  id: string | undefined;
  /** The function name, once the server has sent it. */
  name: string | undefined;
  /** The arguments text this chunk added (JSON arrives in pieces). */
  argumentsDelta: string;
}

/** Token counts, sent once near the end when `stream_options.include_usage` is set. */
export interface UsageEvent {
  type: 'usage';
  usage: Usage;
}

/** A choice finished, with the reason. */
export interface FinishEvent {
  type: 'finish';
  choiceIndex: number;
  finishReason: FinishReason;
}

/** Everything a chunk can contribute. */
export type ChatDeltaEvent = TextDeltaEvent | ToolCallDeltaEvent | UsageEvent | FinishEvent;

interface ChoiceState {
  content: string;
  refusal: string | null;
  toolCalls: Map<number, ToolCall>;
  finishReason: FinishReason | null;
}

/**
 * Folds streamed `chat.completion.chunk`s into the final completion: content concatenated, tool calls
 * merged by `index`, usage and finish reasons kept. Pure: no I/O, no clock.
 */
export class DeltaAssembler {
  private choices = new Map<number, ChoiceState>();
  private usage: Usage | undefined;
  private id = '';
  private model = '';
  private created = 0;
  private systemFingerprint: string | null | undefined;

  /** Applies one chunk and returns the events it produced, in order. */
  apply(chunk: ChatCompletionChunk): ChatDeltaEvent[] {
    const events: ChatDeltaEvent[] = [];
    if (chunk.id) this.id = chunk.id;
    if (chunk.model) this.model = chunk.model;
    if (chunk.created) this.created = chunk.created;
    if (chunk.system_fingerprint !== undefined) this.systemFingerprint = chunk.system_fingerprint;
    for (const choice of chunk.choices ?? []) {
      const state = this.choice(choice.index ?? 0);
      const delta = choice.delta ?? {};
      if (typeof delta.content === 'string' && delta.content !== '') {
        state.content += delta.content;
        events.push({
          type: 'text-delta',
          choiceIndex: choice.index,
          delta: delta.content,
          text: state.content,
        });
      }
      if (typeof delta.refusal === 'string') state.refusal = (state.refusal ?? '') + delta.refusal;
      for (const fragment of delta.tool_calls ?? []) {
        const call = state.toolCalls.get(fragment.index) ?? {
          id: '',
          type: 'function' as const,
          function: { name: '', arguments: '' },
        };
        if (fragment.id) call.id = fragment.id;
        if (fragment.function?.name) call.function.name = fragment.function.name;
        const argumentsDelta = fragment.function?.arguments ?? '';
        call.function.arguments += argumentsDelta;
        state.toolCalls.set(fragment.index, call);
        events.push({
          type: 'tool-call-delta',
          choiceIndex: choice.index,
          index: fragment.index,
          id: call.id || undefined,
          name: call.function.name || undefined,
          argumentsDelta,
        });
      }
      if (choice.finish_reason) {
        state.finishReason = choice.finish_reason;
        events.push({ type: 'finish', choiceIndex: choice.index, finishReason: choice.finish_reason });
      }
    }
    if (chunk.usage) {
      this.usage = chunk.usage;
      events.push({ type: 'usage', usage: chunk.usage });
    }
    return events;
  }

  /** The text of one choice so far. */
  text(choiceIndex = 0): string {
    return this.choices.get(choiceIndex)?.content ?? '';
  }

  /** The completion assembled so far, shaped like a non-streamed `chat.completion`. */
  toCompletion(): ChatCompletion {
    const indexes = [...this.choices.keys()].sort((left, right) => left - right);
    const completion: ChatCompletion = {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: indexes.map((index) => {
        const state = this.choices.get(index)!;
        const toolCalls = [...state.toolCalls.entries()].sort(([left], [right]) => left - right);
        return {
          index,
          message: {
            role: 'assistant' as const,
            content: state.content === '' && toolCalls.length > 0 ? null : state.content,
            ...(state.refusal === null ? {} : { refusal: state.refusal }),
            ...(toolCalls.length === 0 ? {} : { tool_calls: toolCalls.map(([, call]) => call) }),
          },
          finish_reason: state.finishReason,
        };
      }),
    };
    if (this.systemFingerprint !== undefined) completion.system_fingerprint = this.systemFingerprint;
    if (this.usage) completion.usage = this.usage;
    return completion;
  }

  /** Forgets everything, for a stream that restarts from scratch. */
  reset(): void {
    this.choices.clear();
    this.usage = undefined;
    this.id = '';
    this.model = '';
    this.created = 0;
    this.systemFingerprint = undefined;
  }

  private choice(index: number): ChoiceState {
    let state = this.choices.get(index);
    if (!state) {
      state = { content: '', refusal: null, toolCalls: new Map(), finishReason: null };
      this.choices.set(index, state);
    }
    return state;
  }
}

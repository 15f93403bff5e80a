import type { AssembledStream, AssembledStreamOptions, StreamCodec } from './chat-stream.js';
import { type AssembledMessage, MessagesAssembler } from './messages-assembler.js';

/** The options of `client.messages.stream`: those of `chat.stream`, with `onDone` and `done` carrying the message. */
export type MessagesStreamOptions = AssembledStreamOptions<AssembledMessage>;

/** Options of `client.messages.resume`: those of `messages.stream`, plus where to pick the stream up. */
export interface MessagesResumeOptions extends MessagesStreamOptions {
  /** The last event id already shown; 0 replays it all. @default 0 */
  lastEventId?: number;
}

/** A running Anthropic Messages stream: chat-shaped events (`text-delta`, `tool-call-delta`, …), `final()` the message. */
export type MessagesStream = AssembledStream<AssembledMessage>;

const END_PATTERN = /^\s*\{\s*"type"\s*:\s*"message_stop"/;

/** Anthropic Messages streams: folded by the {@link MessagesAssembler}, ended by `message_stop`. */
export function messagesCodec(): StreamCodec<AssembledMessage> {
  const assembler = new MessagesAssembler();
  return {
    apply: (data) => assembler.apply(data),
    reset: () => assembler.reset(),
    text: () => assembler.text(),
    final: () => assembler.toMessage(),
    isTerminal: (message) => message.event === 'message_stop' || END_PATTERN.test(message.data),
  };
}

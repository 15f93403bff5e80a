// The conversation's pure parts: message ids, what a request carries, the edits the store makes.

import type { ChatStatusEvent } from '@spool/client';
import type { ChatMessage as WireMessage } from '@spool/protocol';
import type { ChatMessage, ChatMessageState, ChatRetryInfo } from './chat-types.js';

let idCounter = 0;

/** A message id unique within the page (time, a counter and a random part). */
export function newMessageId(): string {
  idCounter += 1;
  return `msg_${Date.now().toString(36)}_${idCounter.toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/** The messages a request carries: the system prompt, then the last `contextWindow` finished messages. */
export function requestMessages(
  messages: readonly ChatMessage[],
  contextWindow: number,
  system: string | undefined,
): WireMessage[] {
  const usable = messages.filter(
    (message) => message.role === 'user' || (message.content !== '' && message.state !== 'error'),
  );
  const windowed = Number.isFinite(contextWindow) ? usable.slice(-Math.max(1, contextWindow)) : usable;
  const wire: WireMessage[] = windowed.map((message) => ({ role: message.role, content: message.content }));
  return system ? [{ role: 'system', content: system }, ...wire] : wire;
}

/**
 * An answer stored while it streamed, with nothing to reattach to (the page closed before the gateway
 * named the stream, or resuming is off): kept as stopped when it has text, dropped when empty.
 */
export function settleInterrupted(messages: ChatMessage[]): ChatMessage[] {
  return messages.flatMap((message) => {
    if (message.state !== 'streaming') return [message];
    return message.content === '' ? [] : [{ ...message, state: 'stopped' as const }];
  });
}

/** `messages` with message `id`'s text and state replaced. */
export function withMessage(
  messages: readonly ChatMessage[],
  id: string,
  content: string,
  state: ChatMessageState,
): readonly ChatMessage[] {
  return messages.map((message) => (message.id === id ? { ...message, content, state } : message));
}

/** The retry a `reconnecting` status announces, as the UI shows it (`nextRetryAt` from `now`). */
export function retryInfoOf(
  status: Extract<ChatStatusEvent, { type: 'reconnecting' }>,
  now: number,
): ChatRetryInfo {
  return {
    attempt: status.attempt,
    delayMs: status.delayMs,
    nextRetryAt: now + status.delayMs,
    code: status.reason.code,
    message: status.reason.message,
    reason: status.reason,
  };
}

import type { ChatMessage } from './chat-types.js';

/** The part of the Web Storage API the chat store uses (localStorage, sessionStorage or an adapter). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** What survives a reload while an answer streams: enough to reattach without repeating a token. */
export interface InflightRecord {
  version: 1;
  /** The gateway's stream id (`X-Stream-Id`). */
  streamId: string;
  /** The last event id whose text is in the assistant message below. */
  lastEventId: number;
  /** The assistant message being streamed. */
  assistantId: string;
  /** The model answering. */
  model: string;
  /** The conversation, the partial assistant message included. */
  messages: ChatMessage[];
}

/** The storage the runtime offers, or `undefined` (Node, React Native, storage disabled by the browser). */
export function defaultStorage(kind: 'localStorage' | 'sessionStorage'): StorageLike | undefined {
  try {
    const storage = (globalThis as Record<string, unknown>)[kind] as StorageLike | undefined;
    return typeof storage?.getItem === 'function' ? storage : undefined;
  } catch {
    // Safari in some privacy modes throws on access.
    return undefined;
  }
}

function readJson(storage: StorageLike | undefined, key: string): unknown {
  try {
    const raw = storage?.getItem(key);
    return raw ? JSON.parse(raw) : undefined;
  } catch {
    return undefined;
  }
}

function writeJson(storage: StorageLike | undefined, key: string, value: unknown): void {
  try {
    if (value === undefined) storage?.removeItem(key);
    else storage?.setItem(key, JSON.stringify(value));
  } catch {
    // Quota exceeded or storage disabled: the conversation still works, it just will not survive.
  }
}

function isMessage(value: unknown): value is ChatMessage {
  const message = value as ChatMessage;
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof message.id === 'string' &&
    (message.role === 'user' || message.role === 'assistant') &&
    typeof message.content === 'string'
  );
}

/** Reads a stored conversation; anything malformed reads as empty. */
export function loadHistory(storage: StorageLike | undefined, key: string): ChatMessage[] {
  const stored = readJson(storage, key) as { version?: number; messages?: unknown } | undefined;
  if (stored?.version !== 1 || !Array.isArray(stored.messages)) return [];
  return stored.messages.filter(isMessage);
}

/** Stores a conversation (or removes it when empty). */
export function saveHistory(
  storage: StorageLike | undefined,
  key: string,
  messages: readonly ChatMessage[],
): void {
  writeJson(storage, key, messages.length === 0 ? undefined : { version: 1, messages });
}

/** Reads the in-flight record left by a page that was reloaded mid-answer. */
export function loadInflight(storage: StorageLike | undefined, key: string): InflightRecord | undefined {
  const stored = readJson(storage, key) as Partial<InflightRecord> | undefined;
  if (
    stored?.version !== 1 ||
    typeof stored.streamId !== 'string' ||
    typeof stored.assistantId !== 'string' ||
    typeof stored.model !== 'string' ||
    !Number.isInteger(stored.lastEventId) ||
    !Array.isArray(stored.messages)
  ) {
    return undefined;
  }
  const messages = stored.messages.filter(isMessage);
  if (!messages.some((message) => message.id === stored.assistantId)) return undefined;
  return { ...(stored as InflightRecord), messages };
}

/** Stores (or with `undefined` removes) the in-flight record. */
export function saveInflight(
  storage: StorageLike | undefined,
  key: string,
  record: InflightRecord | undefined,
): void {
  writeJson(storage, key, record);
}

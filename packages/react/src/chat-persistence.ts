import type { ChatMessage, ChatStoreOptions, StorageLike } from './chat-types.js';

/** What survives a reload while an answer streams: enough to reattach without repeating a token. */
export interface InflightRecord {
  /** The gateway's stream id (`X-Stream-Id`). */
  streamId: string;
  /** The last event id whose text the assistant message below shows. */
  lastEventId: number;
  /** The assistant message being streamed. */
  assistantId: string;
  /** The model answering. */
  model: string;
  /** The conversation, the partial assistant message (with the text so far) last. */
  messages: ChatMessage[];
}

/** Written once when the stream is named: the conversation up to the answer. */
interface InflightStart {
  version: 1;
  streamId: string;
  assistantId: string;
  model: string;
  /** The conversation before the assistant message. */
  messages: ChatMessage[];
}

/** Written after every event: small, so a long conversation is not re-serialized per token. */
interface InflightProgress {
  version: 1;
  streamId: string;
  lastEventId: number;
  text: string;
}

/** The storage the runtime offers, or `undefined` (Node, React Native, storage disabled by the browser). */
function defaultStorage(kind: 'localStorage' | 'sessionStorage'): StorageLike | undefined {
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
  const started = readJson(storage, key) as Partial<InflightStart> | undefined;
  if (
    started?.version !== 1 ||
    typeof started.streamId !== 'string' ||
    typeof started.assistantId !== 'string' ||
    typeof started.model !== 'string' ||
    !Array.isArray(started.messages)
  ) {
    return undefined;
  }
  const stored = readJson(storage, `${key}:progress`) as Partial<InflightProgress> | undefined;
  // Progress of another stream (or none yet) means nothing was shown: replay from the start.
  const progress =
    stored?.version === 1 &&
    stored.streamId === started.streamId &&
    Number.isInteger(stored.lastEventId) &&
    typeof stored.text === 'string'
      ? { lastEventId: stored.lastEventId as number, text: stored.text }
      : { lastEventId: 0, text: '' };
  const assistant: ChatMessage = {
    id: started.assistantId,
    role: 'assistant',
    content: progress.text,
    state: 'streaming',
  };
  return {
    streamId: started.streamId,
    assistantId: started.assistantId,
    model: started.model,
    lastEventId: progress.lastEventId,
    messages: [...started.messages.filter(isMessage), assistant],
  };
}

/** Records that an answer's stream is named, with the conversation it answers. */
export function saveInflightStart(
  storage: StorageLike | undefined,
  key: string,
  start: Omit<InflightStart, 'version'>,
): void {
  writeJson(storage, key, { version: 1, ...start });
}

/** Records the text shown so far and the id of the last event in it. */
export function saveInflightProgress(
  storage: StorageLike | undefined,
  key: string,
  progress: Omit<InflightProgress, 'version'>,
): void {
  writeJson(storage, `${key}:progress`, { version: 1, ...progress });
}

/** Forgets the in-flight record (the answer ended). */
export function clearInflight(storage: StorageLike | undefined, key: string): void {
  writeJson(storage, key, undefined);
  writeJson(storage, `${key}:progress`, undefined);
}

/** One conversation's storage: its history and the answer in flight, under its keys. */
export interface ChatPersistence {
  /** The stored conversation, and the answer a reloaded page should reattach to, if any. */
  restore(): { messages: ChatMessage[]; inflight: InflightRecord | undefined };
  /** Stores the conversation (removes it when empty); a no-op with `persistHistory: false`. */
  saveHistory(messages: readonly ChatMessage[]): void;
  /** Records that an answer's stream is named; a no-op with `resumeOnReload: false`. */
  saveInflightStart(start: Omit<InflightStart, 'version'>): void;
  /** Records the text shown so far and the id of the last event in it. */
  saveInflightProgress(progress: Omit<InflightProgress, 'version'>): void;
  /** Forgets the answer in flight (it ended). */
  clearInflight(): void;
}

/**
 * The storage a chat store's options name: history in `storage.history` (default localStorage) under
 * `{storageKey}:history`, the answer in flight in `storage.session` (default sessionStorage) under
 * `{storageKey}:inflight`; `persistHistory: false` or `resumeOnReload: false` turn either off.
 */
export function createChatPersistence(
  options: Pick<ChatStoreOptions, 'persistHistory' | 'resumeOnReload' | 'storage' | 'storageKey'>,
): ChatPersistence {
  const prefix = options.storageKey ?? 'spool-chat';
  const historyKey = `${prefix}:history`;
  const inflightKey = `${prefix}:inflight`;
  /** The storage named in `options.storage` (even `undefined`), else the runtime's; none when off. */
  const chosen = (on: boolean, name: 'history' | 'session', runtime: 'localStorage' | 'sessionStorage') => {
    if (!on) return undefined;
    return name in (options.storage ?? {}) ? options.storage?.[name] : defaultStorage(runtime);
  };
  const history = chosen(options.persistHistory !== false, 'history', 'localStorage');
  const session = chosen(options.resumeOnReload !== false, 'session', 'sessionStorage');
  return {
    restore: () => ({
      messages: loadHistory(history, historyKey),
      inflight: loadInflight(session, inflightKey),
    }),
    saveHistory: (messages) => saveHistory(history, historyKey, messages),
    saveInflightStart: (start) => saveInflightStart(session, inflightKey, start),
    saveInflightProgress: (progress) => saveInflightProgress(session, inflightKey, progress),
    clearInflight: () => clearInflight(session, inflightKey),
  };
}

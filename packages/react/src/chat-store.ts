import {
  AbortError,
  type ChatStatusEvent,
  type ChatStream,
  createClient,
  globalLifecycle,
  type LifecycleSource,
  NetworkError,
  type SpoolClient,
  SpoolClientError,
  StatsRecorder,
  type StreamStats,
} from '@spool/client';
import type { ChatMessage as WireMessage } from '@spool/protocol';
import {
  clearInflight,
  defaultStorage,
  type InflightRecord,
  loadHistory,
  loadInflight,
  saveHistory,
  saveInflightProgress,
  saveInflightStart,
} from './chat-persistence.js';
import type {
  ChatMessage,
  ChatMessageState,
  ChatRetryInfo,
  ChatState,
  ChatStatus,
  ChatStoreOptions,
  SendOptions,
  StorageLike,
} from './chat-types.js';

/** A chat conversation's state and actions, framework-free: React binds it with `useSyncExternalStore`. */
export interface ChatStore {
  /** The current state; the same object until something changes. */
  getSnapshot(): ChatState;
  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  /** Adds a user message and streams the answer; resolves when the answer ends (done, stopped or failed). */
  send(content: string, options?: SendOptions): Promise<void>;
  /** Stops the answer being streamed, and its generation on the gateway (`DELETE /v1/streams/{id}`). */
  stop(): Promise<void>;
  /** Streams a new answer to the last user message, replacing the last answer. */
  regenerate(options?: SendOptions): Promise<void>;
  /** After an error: asks again (same as `regenerate`). */
  retry(options?: SendOptions): Promise<void>;
  /** Stops any answer and forgets the conversation (storage included). */
  clear(): void;
  /** Chooses the model for the next answers. */
  setModel(model: string): void;
  /** Reattaches to an answer that was streaming when the page was reloaded; no-op when there is none. */
  resume(): Promise<void>;
  /**
   * Lets go of the answer under way without stopping it: the connection closes (no `DELETE`), the
   * gateway generates on, and the answer waits, as after a reload, for `resume()` to pick it up after
   * the last event shown; its in-flight record stays stored. `send()`'s promise resolves then.
   * `useChat` calls it when the last component using the store unmounts. An answer the gateway has
   * not named yet (no stream id) cannot be picked up again: it ends as stopped (dropped if empty).
   */
  detach(): void;
  /** Stops listening for online/offline events. An answer under way keeps streaming (see `detach`). */
  dispose(): void;
}

/** The connection phase of the current answer; `offline` is derived from it and the device's state. */
type Phase = Exclude<ChatStatus, 'offline'>;

interface ActiveAnswer {
  assistantId: string;
  /** The last event id whose text the assistant message shows (what a reload resumes after). */
  lastEventId: number;
  /** Whether the in-flight record's start (stream id, conversation) is stored. */
  startSaved: boolean;
  stopRequested: boolean;
  /** The model answering. */
  model: string;
  /** The client stream, once started. */
  stream: ChatStream | undefined;
}

const ACTIVE_PHASES: ReadonlySet<Phase> = new Set(['connecting', 'streaming', 'reconnecting']);

let idCounter = 0;
function newMessageId(): string {
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

class SpoolChatStore implements ChatStore {
  readonly #options: ChatStoreOptions;
  readonly #client: SpoolClient;
  readonly #lifecycle: LifecycleSource;
  readonly #now: () => number;
  readonly #history: StorageLike | undefined;
  readonly #session: StorageLike | undefined;
  readonly #historyKey: string;
  readonly #inflightKey: string;
  readonly #listeners = new Set<() => void>();
  readonly #unsubscribeLifecycle: () => void;
  #pendingResume: InflightRecord | undefined;
  #active: ActiveAnswer | undefined;

  #messages: readonly ChatMessage[];
  #phase: Phase = 'idle';
  #online: boolean;
  #error: SpoolClientError | undefined;
  #retryInfo: ChatRetryInfo | undefined;
  #slowNetwork = false;
  #stats: StreamStats | undefined;
  #streamId: string | undefined;
  #model: string;
  #snapshot: ChatState | undefined;

  constructor(options: ChatStoreOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#lifecycle = options.client?.lifecycle ?? globalLifecycle();
    this.#online = this.#lifecycle.isOnline();
    this.#model = options.model ?? 'sim';
    const prefix = options.storageKey ?? 'spool-chat';
    this.#historyKey = `${prefix}:history`;
    this.#inflightKey = `${prefix}:inflight`;
    this.#history =
      options.persistHistory === false
        ? undefined
        : 'history' in (options.storage ?? {})
          ? options.storage?.history
          : defaultStorage('localStorage');
    this.#session =
      options.resumeOnReload === false
        ? undefined
        : 'session' in (options.storage ?? {})
          ? options.storage?.session
          : defaultStorage('sessionStorage');
    this.#client = createClient({
      ...options.client,
      baseURL: options.baseURL,
      apiKey: options.apiKey,
      lifecycle: this.#lifecycle,
    });
    this.#messages = settleInterrupted(loadHistory(this.#history, this.#historyKey));
    const inflight = loadInflight(this.#session, this.#inflightKey);
    if (inflight) {
      this.#pendingResume = inflight;
      this.#messages = inflight.messages;
      this.#model = inflight.model;
      this.#streamId = inflight.streamId;
      this.#phase = 'connecting';
    }
    this.#unsubscribeLifecycle = this.#lifecycle.subscribe((event) => {
      if (event !== 'online' && event !== 'offline') return;
      this.#online = event === 'online';
      this.#changed();
    });
  }

  getSnapshot = (): ChatState => {
    this.#snapshot ??= {
      messages: this.#messages,
      status: ACTIVE_PHASES.has(this.#phase) && !this.#online ? 'offline' : this.#phase,
      error: this.#error,
      retryInfo: this.#retryInfo,
      stats: this.#stats,
      streamId: this.#streamId,
      model: this.#model,
      slowNetwork: this.#slowNetwork,
    };
    return this.#snapshot;
  };

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  send = async (content: string, options: SendOptions = {}): Promise<void> => {
    if (this.#active || this.#pendingResume || content.trim() === '') return;
    const user: ChatMessage = { id: newMessageId(), role: 'user', content };
    this.#messages = [...this.#messages, user];
    this.#changed();
    await this.#answer(options);
  };

  stop = async (): Promise<void> => {
    const active = this.#active;
    if (!active) return;
    active.stopRequested = true;
    await active.stream?.cancel();
  };

  regenerate = async (options: SendOptions = {}): Promise<void> => {
    await this.stop();
    if (this.#pendingResume) return;
    let messages = [...this.#messages];
    while (messages.length > 0 && messages.at(-1)?.role === 'assistant') messages = messages.slice(0, -1);
    if (messages.length === 0) return;
    this.#messages = messages;
    this.#changed();
    await this.#answer(options);
  };

  retry = (options: SendOptions = {}): Promise<void> => this.regenerate(options);

  clear = (): void => {
    const active = this.#active;
    this.#active = undefined;
    this.#pendingResume = undefined;
    if (active) {
      active.stopRequested = true;
      void active.stream?.cancel();
    }
    this.#messages = [];
    this.#phase = 'idle';
    this.#error = undefined;
    this.#retryInfo = undefined;
    this.#stats = undefined;
    this.#streamId = undefined;
    saveHistory(this.#history, this.#historyKey, []);
    clearInflight(this.#session, this.#inflightKey);
    this.#changed();
  };

  setModel = (model: string): void => {
    if (model === this.#model) return;
    this.#model = model;
    this.#changed();
  };

  dispose = (): void => {
    this.#unsubscribeLifecycle();
  };

  detach = (): void => {
    const active = this.#active;
    if (!active) return;
    this.#active = undefined;
    void active.stream?.detach();
    const streamId = this.#streamId;
    const assistant = this.#messages.find((message) => message.id === active.assistantId);
    this.#retryInfo = undefined;
    if (streamId === undefined || !assistant) {
      // Nothing names the generation, so nothing can pick it up: settle it as a reload would.
      this.#messages = settleInterrupted([...this.#messages]);
      this.#phase = 'idle';
      clearInflight(this.#session, this.#inflightKey);
      saveHistory(this.#history, this.#historyKey, this.#messages);
    } else {
      this.#pendingResume = {
        streamId,
        lastEventId: active.lastEventId,
        assistantId: active.assistantId,
        model: active.model,
        messages: [...this.#messages],
      };
      this.#phase = 'connecting';
    }
    this.#changed();
  };

  resume = async (): Promise<void> => {
    const record = this.#pendingResume;
    if (!record || this.#active) return;
    const shownText = record.messages.find((message) => message.id === record.assistantId)?.content ?? '';
    const active = this.#start(record.assistantId, record.lastEventId, record.model);
    this.#pendingResume = undefined;
    this.#streamId = record.streamId;
    this.#phase = 'connecting';
    this.#changed();
    const stream = this.#client.chat.resume(record.streamId, {
      lastEventId: record.lastEventId,
      onStatus: (status) => this.#onStatus(active, status, record.streamId),
      onText: (_delta, text) => this.#onText(active, shownText + text, record.streamId),
    });
    await this.#settle(active, stream);
  };

  async #answer(options: SendOptions): Promise<void> {
    const messages = requestMessages(
      this.#messages,
      this.#options.contextWindow ?? Infinity,
      this.#options.system,
    );
    const assistant: ChatMessage = { id: newMessageId(), role: 'assistant', content: '', state: 'streaming' };
    this.#messages = [...this.#messages, assistant];
    this.#phase = 'connecting';
    this.#error = undefined;
    this.#retryInfo = undefined;
    this.#stats = undefined;
    this.#streamId = undefined;
    saveHistory(this.#history, this.#historyKey, this.#messages);
    this.#changed();

    const active = this.#start(assistant.id, 0, this.#model);
    active.startSaved = false;
    const stream = this.#client.chat.stream(
      { ...options.body, model: this.#model, messages },
      {
        headers: options.headers,
        idleTimeoutMs: options.idleTimeoutMs,
        onStatus: (status) => this.#onStatus(active, status, active.stream?.streamId),
        onText: (_delta, text) => this.#onText(active, text, active.stream?.streamId),
      },
    );
    await this.#settle(active, stream);
  }

  /** Makes `active` the answer under way (its stream is set by {@link settle}). */
  #start(assistantId: string, lastEventId: number, model: string): ActiveAnswer {
    const active: ActiveAnswer = {
      assistantId,
      lastEventId,
      startSaved: true,
      stopRequested: false,
      model,
      stream: undefined,
    };
    this.#active = active;
    return active;
  }

  /** Waits for the answer's stream to end and records how; a detached answer is no longer active. */
  async #settle(active: ActiveAnswer, stream: ChatStream): Promise<void> {
    active.stream = stream;
    try {
      await stream.text();
      this.#finish(active, 'done');
    } catch (error) {
      this.#finish(active, active.stopRequested && error instanceof AbortError ? 'stopped' : 'error', error);
    }
  }

  #onStatus(active: ActiveAnswer, status: ChatStatusEvent, streamId: string | undefined): void {
    if (this.#active !== active) return;
    switch (status.type) {
      case 'connecting':
        this.#phase = 'connecting';
        this.#slowNetwork = false;
        break;
      case 'transport-fallback':
        this.#slowNetwork = true;
        break;
      case 'open':
        this.#phase = 'streaming';
        this.#streamId = status.streamId ?? streamId;
        this.#persistInflight(active);
        break;
      case 'reconnecting':
        this.#phase = 'reconnecting';
        this.#retryInfo = {
          attempt: status.attempt,
          delayMs: status.delayMs,
          nextRetryAt: this.#now() + status.delayMs,
          code: status.reason.code,
          message: status.reason.message,
          reason: status.reason,
        };
        break;
      case 'resumed':
        this.#phase = 'streaming';
        this.#retryInfo = undefined;
        break;
      case 'restarted':
        this.#setAssistant(active.assistantId, '', 'streaming');
        break;
      case 'done':
        return;
    }
    this.#stats = this.#statsOf(active);
    this.#changed();
  }

  #onText(active: ActiveAnswer, text: string, streamId: string | undefined): void {
    if (this.#active !== active) return;
    // The id of the event whose text this is: what a resume continues after.
    const lastEventId = active.stream?.lastEventId ?? active.lastEventId;
    this.#setAssistant(active.assistantId, text, 'streaming');
    this.#phase = 'streaming';
    this.#retryInfo = undefined;
    this.#stats = this.#statsOf(active);
    if (streamId !== undefined) this.#streamId = streamId;
    active.lastEventId = lastEventId;
    this.#persistInflight(active);
    this.#changed();
  }

  #persistInflight(active: ActiveAnswer): void {
    const streamId = this.#streamId;
    if (!this.#session || streamId === undefined) return;
    if (!active.startSaved) {
      active.startSaved = true;
      saveInflightStart(this.#session, this.#inflightKey, {
        streamId,
        assistantId: active.assistantId,
        model: this.#model,
        messages: this.#messages.filter((message) => message.id !== active.assistantId),
      });
    }
    const assistant = this.#messages.find((message) => message.id === active.assistantId);
    saveInflightProgress(this.#session, this.#inflightKey, {
      streamId,
      lastEventId: active.lastEventId,
      text: assistant?.content ?? '',
    });
  }

  #finish(active: ActiveAnswer, outcome: 'done' | 'stopped' | 'error', error?: unknown): void {
    if (this.#active !== active) return;
    this.#active = undefined;
    const assistant = this.#messages.find((message) => message.id === active.assistantId);
    this.#setAssistant(active.assistantId, assistant?.content ?? '', outcome);
    this.#phase = outcome === 'stopped' ? 'idle' : outcome;
    this.#retryInfo = undefined;
    this.#stats = this.#statsOf(active);
    this.#error =
      outcome !== 'error'
        ? undefined
        : error instanceof SpoolClientError
          ? error
          : new NetworkError(String(error), { cause: error, retryable: false });
    clearInflight(this.#session, this.#inflightKey);
    saveHistory(this.#history, this.#historyKey, this.#messages);
    this.#changed();
  }

  #statsOf(active: ActiveAnswer): StreamStats {
    return active.stream?.stats() ?? new StatsRecorder(this.#now).snapshot();
  }

  #setAssistant(id: string, content: string, state: ChatMessageState): void {
    this.#messages = this.#messages.map((message) =>
      message.id === id ? { ...message, content, state } : message,
    );
  }

  #changed(): void {
    this.#snapshot = undefined;
    for (const listener of [...this.#listeners]) listener();
  }
}

/**
 * An answer stored while it streamed, with nothing to reattach to (the page closed before the gateway
 * named the stream, or resuming is off): kept as stopped when it has text, dropped when empty.
 */
function settleInterrupted(messages: ChatMessage[]): ChatMessage[] {
  return messages.flatMap((message) => {
    if (message.state !== 'streaming') return [message];
    return message.content === '' ? [] : [{ ...message, state: 'stopped' as const }];
  });
}

/**
 * Creates a chat store: the conversation, its status, retries and stats, with history in
 * localStorage and reattachment after a reload. No React here; React Native and Node use it as is.
 * @example
 * const chat = createChatStore({ baseURL: 'http://localhost:8787/v1', model: 'sim' });
 * chat.subscribe(() => render(chat.getSnapshot()));
 * await chat.send('Hello');
 */
export function createChatStore(options: ChatStoreOptions): ChatStore {
  if (typeof options?.baseURL !== 'string' || options.baseURL === '') {
    throw new TypeError('createChatStore needs `baseURL`, e.g. "http://localhost:8787/v1" or "/v1".');
  }
  return new SpoolChatStore(options);
}

import {
  type ChatStatusEvent,
  createClient,
  globalLifecycle,
  type LifecycleSource,
  type SpoolClient,
  type SpoolClientError,
  type StreamStats,
} from '@spool/client';
import { Answer, type AnswerListener, type AnswerOutcome } from './chat-answer.js';
import {
  newMessageId,
  requestMessages,
  retryInfoOf,
  settleInterrupted,
  withMessage,
} from './chat-messages.js';
import { type ChatPersistence, createChatPersistence, type InflightRecord } from './chat-persistence.js';
import type {
  ChatMessage,
  ChatMessageState,
  ChatRetryInfo,
  ChatState,
  ChatStatus,
  ChatStoreOptions,
  SendOptions,
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

const ACTIVE_PHASES: ReadonlySet<Phase> = new Set(['connecting', 'streaming', 'reconnecting']);

class SpoolChatStore implements ChatStore {
  readonly #options: ChatStoreOptions;
  readonly #client: SpoolClient;
  readonly #lifecycle: LifecycleSource;
  readonly #now: () => number;
  readonly #storage: ChatPersistence;
  readonly #listeners = new Set<() => void>();
  readonly #unsubscribeLifecycle: () => void;
  /** What the answer under way reports; an answer no longer active is not listened to. */
  readonly #answerListener: AnswerListener = {
    onStatus: (answer, status) => this.#onStatus(answer, status),
    onText: (answer, text) => this.#onText(answer, text),
    onEnd: (answer, outcome, error) => this.#finish(answer, outcome, error),
  };
  #pendingResume: InflightRecord | undefined;
  #active: Answer | undefined;

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
    this.#storage = createChatPersistence(options);
    this.#client = createClient({
      ...options.client,
      baseURL: options.baseURL,
      apiKey: options.apiKey,
      lifecycle: this.#lifecycle,
    });
    const { messages, inflight } = this.#storage.restore();
    this.#messages = settleInterrupted(messages);
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
    await this.#active?.stop();
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
    void active?.stop();
    this.#messages = [];
    this.#phase = 'idle';
    this.#error = undefined;
    this.#retryInfo = undefined;
    this.#stats = undefined;
    this.#streamId = undefined;
    this.#storage.saveHistory([]);
    this.#storage.clearInflight();
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
    active.detach();
    const streamId = this.#streamId;
    const assistant = this.#messages.find((message) => message.id === active.assistantId);
    this.#retryInfo = undefined;
    if (streamId === undefined || !assistant) {
      // Nothing names the generation, so nothing can pick it up: settle it as a reload would.
      this.#messages = settleInterrupted([...this.#messages]);
      this.#phase = 'idle';
      this.#storage.clearInflight();
      this.#storage.saveHistory(this.#messages);
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
    const answer = new Answer(record.assistantId, record.model, this.#answerListener, record);
    this.#active = answer;
    this.#pendingResume = undefined;
    this.#streamId = record.streamId;
    this.#phase = 'connecting';
    this.#changed();
    await answer.resume(this.#client, shownText);
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
    this.#storage.saveHistory(this.#messages);
    this.#changed();

    const answer = new Answer(assistant.id, this.#model, this.#answerListener);
    this.#active = answer;
    await answer.stream(this.#client, messages, options);
  }

  #onStatus(active: Answer, status: ChatStatusEvent): void {
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
        this.#streamId = status.streamId ?? active.streamId;
        this.#persistInflight(active);
        break;
      case 'reconnecting':
        this.#phase = 'reconnecting';
        this.#retryInfo = retryInfoOf(status, this.#now());
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
    this.#stats = active.stats(this.#now);
    this.#changed();
  }

  #onText(active: Answer, text: string): void {
    if (this.#active !== active) return;
    const { streamId } = active;
    this.#setAssistant(active.assistantId, text, 'streaming');
    this.#phase = 'streaming';
    this.#retryInfo = undefined;
    this.#stats = active.stats(this.#now);
    if (streamId !== undefined) this.#streamId = streamId;
    this.#persistInflight(active);
    this.#changed();
  }

  #persistInflight(active: Answer): void {
    const streamId = this.#streamId;
    if (streamId === undefined) return;
    if (!active.startSaved) {
      active.startSaved = true;
      this.#storage.saveInflightStart({
        streamId,
        assistantId: active.assistantId,
        model: this.#model,
        messages: this.#messages.filter((message) => message.id !== active.assistantId),
      });
    }
    const assistant = this.#messages.find((message) => message.id === active.assistantId);
    this.#storage.saveInflightProgress({
      streamId,
      lastEventId: active.lastEventId,
      text: assistant?.content ?? '',
    });
  }

  #finish(active: Answer, outcome: AnswerOutcome, error: SpoolClientError | undefined): void {
    if (this.#active !== active) return;
    this.#active = undefined;
    const assistant = this.#messages.find((message) => message.id === active.assistantId);
    this.#setAssistant(active.assistantId, assistant?.content ?? '', outcome);
    this.#phase = outcome === 'stopped' ? 'idle' : outcome;
    this.#retryInfo = undefined;
    this.#stats = active.stats(this.#now);
    this.#error = error;
    this.#storage.clearInflight();
    this.#storage.saveHistory(this.#messages);
    this.#changed();
  }

  #setAssistant(id: string, content: string, state: ChatMessageState): void {
    this.#messages = withMessage(this.#messages, id, content, state);
  }

  #changed(): void {
    this.#snapshot = undefined;
    for (const listener of [...this.#listeners]) listener();
  }
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

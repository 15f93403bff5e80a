import {
  AbortError,
  type ChatStatusEvent,
  type ChatStream,
  NetworkError,
  type SpoolClient,
  SpoolClientError,
  StatsRecorder,
  type StreamStats,
} from '@spool/client';
import type { ChatMessage as WireMessage } from '@spool/protocol';
import type { SendOptions } from './chat-types.js';

/** How an answer ended: complete, stopped by the user, or failed. */
export type AnswerOutcome = 'done' | 'stopped' | 'error';

/** What an {@link Answer} reports as it streams; each call names the answer, since a store outlives many. */
export interface AnswerListener {
  /** The connection's state changed (connecting, open, reconnecting, resumed, restarted …). */
  onStatus(answer: Answer, status: ChatStatusEvent): void;
  /** New text: `text` is the whole answer so far, a reattached answer's earlier text included. */
  onText(answer: Answer, text: string): void;
  /** The answer ended; `error` is set for `'error'`. */
  onEnd(answer: Answer, outcome: AnswerOutcome, error: SpoolClientError | undefined): void;
}

/**
 * One assistant answer streamed by the store's client, new (`stream`) or reattached after a reload or
 * a detach (`resume`): its chat stream, the last event whose text is shown, and whether the user
 * stopped it. The store turns what it reports into state and storage.
 */
export class Answer {
  /** The assistant message the answer fills. */
  readonly assistantId: string;
  /** The model answering. */
  readonly model: string;
  /** The last event id whose text the assistant message shows (what a reload resumes after). */
  lastEventId: number;
  /** Whether the in-flight record's start (stream id, conversation) is stored. */
  startSaved: boolean;
  readonly #listener: AnswerListener;
  #stream: ChatStream | undefined;
  /** The stream reattached to, known before the gateway answers. */
  #resumedStreamId: string | undefined;
  #stopRequested = false;

  constructor(
    assistantId: string,
    model: string,
    listener: AnswerListener,
    resumeFrom?: { streamId: string; lastEventId: number },
  ) {
    this.assistantId = assistantId;
    this.model = model;
    this.#listener = listener;
    this.#resumedStreamId = resumeFrom?.streamId;
    this.lastEventId = resumeFrom?.lastEventId ?? 0;
    this.startSaved = resumeFrom !== undefined;
  }

  /** The gateway's stream id (`X-Stream-Id`), once known. */
  get streamId(): string | undefined {
    return this.#resumedStreamId ?? this.#stream?.streamId;
  }

  /** Streams a new answer to `messages`; resolves when it ends, after the listener heard how. */
  stream(client: SpoolClient, messages: WireMessage[], options: SendOptions): Promise<void> {
    return this.#follow(
      client.chat.stream(
        { ...options.body, model: this.model, messages },
        {
          headers: options.headers,
          idleTimeoutMs: options.idleTimeoutMs,
          onStatus: (status) => this.#listener.onStatus(this, status),
          onText: (_delta, text) => this.#onText(text),
        },
      ),
    );
  }

  /** Reattaches to the answer's stream after `lastEventId`; `shownText` is what the page already shows. */
  resume(client: SpoolClient, shownText: string): Promise<void> {
    const streamId = this.#resumedStreamId;
    if (streamId === undefined) throw new TypeError('Only an answer made to resume a stream can resume.');
    return this.#follow(
      client.chat.resume(streamId, {
        lastEventId: this.lastEventId,
        onStatus: (status) => this.#listener.onStatus(this, status),
        onText: (_delta, text) => this.#onText(shownText + text),
      }),
    );
  }

  /** Stops the answer and its generation on the gateway (`DELETE /v1/streams/{id}`). */
  async stop(): Promise<void> {
    this.#stopRequested = true;
    await this.#stream?.cancel();
  }

  /** Closes the connection without stopping the generation; a later `resume` picks it up. */
  detach(): void {
    void this.#stream?.detach();
  }

  /** The stream's measurements so far (empty before it starts). */
  stats(now: () => number): StreamStats {
    return this.#stream?.stats() ?? new StatsRecorder(now).snapshot();
  }

  #onText(text: string): void {
    // The id of the event whose text this is: what a resume continues after.
    this.lastEventId = this.#stream?.lastEventId ?? this.lastEventId;
    this.#listener.onText(this, text);
  }

  async #follow(stream: ChatStream): Promise<void> {
    this.#stream = stream;
    try {
      await stream.text();
      this.#listener.onEnd(this, 'done', undefined);
    } catch (error) {
      const stopped = this.#stopRequested && error instanceof AbortError;
      this.#listener.onEnd(
        this,
        stopped ? 'stopped' : 'error',
        stopped
          ? undefined
          : error instanceof SpoolClientError
            ? error
            : new NetworkError(String(error), { cause: error, retryable: false }),
      );
    }
  }
}

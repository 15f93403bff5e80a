import { fetchCanStream } from '@spool/client';
import { type ChatMessage, useChat } from '@spool/react';
import { type KeyboardEvent, useEffect, useRef, useState } from 'react';
import { createCuttableFetch } from './cuttable-fetch.js';
import { type ArmedDrill, DrillPanel } from './drill-panel.js';
import { Markdown } from './markdown.js';
import { useCorsBlocked, useOnline } from './network-facts.js';
import { StatusBar } from './status-bar.js';

/** The models `/v1/models` lists, or the error that prevented listing them (`network`: no answer). */
function useModels(baseURL: string): { models: string[]; error: string | undefined; network: boolean } {
  const [state, setState] = useState<{ models: string[]; error: string | undefined; network: boolean }>({
    models: [],
    error: undefined,
    network: false,
  });
  useEffect(() => {
    const controller = new AbortController();
    fetch(`${baseURL}/models`, { signal: controller.signal })
      .then(async (response) => {
        if (!response.ok) throw new Error(`GET /v1/models answered ${response.status}`);
        const body = (await response.json()) as { data?: Array<{ id?: unknown }> };
        const models = (body.data ?? []).flatMap((model) => (typeof model.id === 'string' ? [model.id] : []));
        setState({ models, error: undefined, network: false });
      })
      .catch((error: unknown) => {
        // fetch rejects with a TypeError when no answer could be read (down, offline, CORS).
        if (!controller.signal.aborted)
          setState({ models: [], error: String(error), network: error instanceof TypeError });
      });
    return () => controller.abort();
  }, [baseURL]);
  return state;
}

function Message({ message }: { message: ChatMessage }) {
  const streaming = message.state === 'streaming';
  return (
    <li className={`message message-${message.role}`} data-role={message.role} data-state={message.state}>
      <span className="visually-hidden">{message.role === 'user' ? 'You said:' : 'Answer:'}</span>
      {message.role === 'user' ? (
        <p className="user-text">{message.content}</p>
      ) : (
        <div className="answer" aria-busy={streaming}>
          <Markdown
            text={message.content}
            cursor={streaming ? <span className="cursor" aria-hidden="true" /> : undefined}
          />
          {message.state === 'stopped' ? <p className="note">Stopped.</p> : null}
          {message.state === 'error' ? <p className="note">This answer failed.</p> : null}
        </div>
      )}
    </li>
  );
}

/** The chat page: model picker, conversation, status bar, composer, and the network drill. */
export function App({ baseURL }: { baseURL: string }) {
  // The drill's "cut now" wraps the fetch the store's client uses (where fetch streams; else XHR, uncut).
  const [cuttable] = useState(createCuttableFetch);
  const chat = useChat({ baseURL, model: 'sim', client: fetchCanStream() ? { fetch: cuttable.fetch } : {} });
  const { models, error: modelsError, network: modelsUnreachable } = useModels(baseURL);
  const online = useOnline();
  const failureCode = chat.status === 'error' ? chat.error?.code : chat.retryInfo?.code;
  const corsBlocked = useCorsBlocked(
    baseURL,
    online && (failureCode === 'network_error' || (modelsUnreachable && failureCode === undefined)),
  );
  const last = chat.messages.at(-1);
  const answerStarted = last?.role === 'assistant' && last.content !== '';
  const [armed, setArmed] = useState<ArmedDrill | undefined>();
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const endRef = useRef<HTMLLIElement>(null);
  const lastLength = chat.messages.at(-1)?.content.length ?? 0;

  useEffect(() => {
    if (lastLength >= 0) endRef.current?.scrollIntoView({ block: 'end' });
  }, [lastLength]);

  const submit = (event?: { preventDefault?: () => void }) => {
    event?.preventDefault?.();
    if (chat.isBusy || chat.input.trim() === '') return;
    chat.handleSubmit(undefined, armed?.options);
    setArmed(undefined);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) submit(event);
  };

  const modelChoices = models.includes(chat.model) || models.length === 0 ? models : [chat.model, ...models];

  return (
    <div className="app">
      <header className="top">
        <h1>Spool</h1>
        <label className="model">
          <span>Model</span>
          <select
            value={chat.model}
            onChange={(event) => chat.setModel(event.target.value)}
            disabled={chat.isBusy}
            aria-describedby={modelsError ? 'models-error' : undefined}
          >
            {modelChoices.length === 0 ? <option value={chat.model}>{chat.model}</option> : null}
            {modelChoices.map((model) => (
              <option key={model} value={model}>
                {model}
              </option>
            ))}
          </select>
        </label>
        {modelsError ? (
          <p id="models-error" className="note">
            Could not list models:{' '}
            {corsBlocked
              ? "blocked by CORS (add this page's origin to the gateway's cors.origins)"
              : modelsError}
          </p>
        ) : null}
        {models.includes('sim') ? (
          <DrillPanel chat={chat} armed={armed} onArm={setArmed} onCut={cuttable.cut} />
        ) : null}
      </header>

      <main className="conversation">
        {chat.messages.length === 0 ? (
          <p className="empty">
            Ask anything. The answer survives dropped connections, offline spells and reloads.
          </p>
        ) : null}
        <ol className="messages" aria-label="Conversation">
          {chat.messages.map((message) => (
            <Message key={message.id} message={message} />
          ))}
          <li ref={endRef} className="end" aria-hidden="true" />
        </ol>
      </main>

      <footer className="bottom">
        <StatusBar chat={chat} facts={{ online, corsBlocked, answerStarted }} />
        <form className="composer" onSubmit={submit}>
          <label htmlFor="prompt" className="visually-hidden">
            Message
          </label>
          <textarea
            id="prompt"
            ref={inputRef}
            rows={2}
            placeholder="Message (Enter sends, Shift+Enter for a new line)"
            value={chat.input}
            onChange={(event) => chat.setInput(event.target.value)}
            onKeyDown={onKeyDown}
          />
          <div className="composer-buttons">
            {chat.isBusy ? (
              <button
                type="button"
                className="button primary"
                onClick={() => {
                  void chat.stop();
                  inputRef.current?.focus();
                }}
              >
                Stop
              </button>
            ) : (
              <button type="submit" className="button primary" disabled={chat.input.trim() === ''}>
                Send
              </button>
            )}
          </div>
        </form>
        <div className="actions">
          <button
            type="button"
            className="button"
            onClick={() => void chat.regenerate()}
            disabled={chat.isBusy || !chat.messages.some((message) => message.role === 'user')}
          >
            Regenerate
          </button>
          <button
            type="button"
            className="button"
            onClick={() => {
              chat.clear();
              inputRef.current?.focus();
            }}
            disabled={chat.messages.length === 0}
          >
            Clear
          </button>
        </div>
      </footer>
    </div>
  );
}

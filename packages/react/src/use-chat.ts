import { useCallback, useEffect, useState, useSyncExternalStore } from 'react';
import { type ChatStore, createChatStore } from './chat-store.js';
import type { ChatState, ChatStoreOptions, SendOptions } from './chat-types.js';

/** What {@link useChat} returns: the store's state, its actions, and a controlled input. */
export interface UseChatResult extends ChatState {
  /** The text box's value. */
  input: string;
  setInput: (input: string) => void;
  /** For a `<form onSubmit>`: sends `input` (if any) and empties it. */
  handleSubmit: (event?: { preventDefault?: () => void }, options?: SendOptions) => void;
  send: ChatStore['send'];
  stop: ChatStore['stop'];
  regenerate: ChatStore['regenerate'];
  retry: ChatStore['retry'];
  clear: ChatStore['clear'];
  setModel: ChatStore['setModel'];
  /** Whether an answer is under way (connecting, streaming, reconnecting or offline). */
  isBusy: boolean;
  /** The underlying store, for code outside React. */
  store: ChatStore;
}

/** How many mounted `useChat` components use each store: the last to unmount detaches its answer. */
const mountedHooks = new WeakMap<ChatStore, number>();

/**
 * A streaming chat that survives drops, offline spells and reloads: `useSyncExternalStore` over
 * {@link createChatStore}. The options are read once, when the component mounts; pass a `store`
 * instead to share one between components. When the last component using the store unmounts, the
 * answer under way is detached (`store.detach()`): its connection closes, the gateway generates on,
 * and the next mount or a reloaded page resumes it; `stop()` is what ends a generation.
 * @example
 * const chat = useChat({ baseURL: '/v1', model: 'sim' });
 * <form onSubmit={chat.handleSubmit}><input value={chat.input} onChange={(e) => chat.setInput(e.target.value)} /></form>
 */
export function useChat(options: ChatStoreOptions | { store: ChatStore }): UseChatResult {
  const [store] = useState(() => ('store' in options ? options.store : createChatStore(options)));
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const [input, setInput] = useState('');

  useEffect(() => {
    mountedHooks.set(store, (mountedHooks.get(store) ?? 0) + 1);
    void store.resume();
    return () => {
      const left = (mountedHooks.get(store) ?? 1) - 1;
      mountedHooks.set(store, left);
      // The last view of the answer is gone: let go of the connection, not of the generation. A remount
      // (StrictMode's included) or a reloaded page resumes it after the last event shown.
      if (left === 0) store.detach();
    };
  }, [store]);

  const handleSubmit = useCallback(
    (event?: { preventDefault?: () => void }, sendOptions?: SendOptions) => {
      event?.preventDefault?.();
      if (input.trim() === '') return;
      setInput('');
      void store.send(input, sendOptions);
    },
    [input, store],
  );

  const isBusy =
    state.status === 'connecting' ||
    state.status === 'streaming' ||
    state.status === 'reconnecting' ||
    state.status === 'offline';

  return {
    ...state,
    input,
    setInput,
    handleSubmit,
    send: store.send,
    stop: store.stop,
    regenerate: store.regenerate,
    retry: store.retry,
    clear: store.clear,
    setModel: store.setModel,
    isBusy,
    store,
  };
}

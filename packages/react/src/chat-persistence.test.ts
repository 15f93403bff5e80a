import { describe, expect, test } from 'vitest';
import { MemoryStorage } from '../test/chat-fixtures.js';
import {
  clearInflight,
  createChatPersistence,
  loadHistory,
  loadInflight,
  saveHistory,
  saveInflightProgress,
  saveInflightStart,
} from './chat-persistence.js';

const start = {
  streamId: 'str_aaaaaaaaaaaaaaaa',
  assistantId: 'a1',
  model: 'sim',
  messages: [{ id: 'u1', role: 'user' as const, content: 'hi' }],
};

describe('chat persistence', () => {
  test('the in-flight record joins the conversation with the text shown and its last event id', () => {
    const storage = new MemoryStorage();
    saveInflightStart(storage, 'k', start);
    saveInflightProgress(storage, 'k', { streamId: start.streamId, lastEventId: 7, text: 'Hello wor' });
    expect(loadInflight(storage, 'k')).toEqual({
      streamId: start.streamId,
      assistantId: 'a1',
      model: 'sim',
      lastEventId: 7,
      messages: [
        { id: 'u1', role: 'user', content: 'hi' },
        { id: 'a1', role: 'assistant', content: 'Hello wor', state: 'streaming' },
      ],
    });
    clearInflight(storage, 'k');
    expect(storage.items.size).toBe(0);
  });

  test('progress of another stream, or none, means replaying from the first event', () => {
    const storage = new MemoryStorage();
    saveInflightStart(storage, 'k', start);
    expect(loadInflight(storage, 'k')).toMatchObject({ lastEventId: 0 });
    saveInflightProgress(storage, 'k', { streamId: 'str_other', lastEventId: 9, text: 'stale' });
    expect(loadInflight(storage, 'k')).toMatchObject({ lastEventId: 0, messages: [{}, { content: '' }] });
  });

  test('malformed or missing storage reads as nothing', () => {
    const storage = new MemoryStorage();
    storage.setItem('k', '{not json');
    storage.setItem(
      'h',
      JSON.stringify({ version: 1, messages: [{ id: 1 }, { id: 'm', role: 'user', content: 'ok' }] }),
    );
    expect(loadInflight(storage, 'k')).toBeUndefined();
    expect(loadInflight(undefined, 'k')).toBeUndefined();
    expect(loadHistory(storage, 'h')).toEqual([{ id: 'm', role: 'user', content: 'ok' }]);
    saveHistory(storage, 'h', []);
    expect(storage.getItem('h')).toBeNull();
  });

  test("a store's storage keeps history and the answer in flight under its keys, either switched off", () => {
    const history = new MemoryStorage();
    const session = new MemoryStorage();
    const storage = createChatPersistence({ storageKey: 'c1', storage: { history, session } });
    storage.saveHistory(start.messages);
    storage.saveInflightStart(start);
    storage.saveInflightProgress({ streamId: start.streamId, lastEventId: 2, text: 'He' });
    expect([...history.items.keys()]).toEqual(['c1:history']);
    expect([...session.items.keys()]).toEqual(['c1:inflight', 'c1:inflight:progress']);
    expect(storage.restore()).toMatchObject({
      messages: start.messages,
      inflight: { streamId: start.streamId, lastEventId: 2 },
    });
    storage.clearInflight();
    expect(storage.restore().inflight).toBeUndefined();

    const off = createChatPersistence({
      storageKey: 'c1',
      storage: { history, session },
      persistHistory: false,
      resumeOnReload: false,
    });
    off.saveHistory([]);
    off.saveInflightStart(start);
    expect(history.getItem('c1:history')).not.toBeNull();
    expect(session.items.size).toBe(0);
    expect(off.restore()).toEqual({ messages: [], inflight: undefined });
  });
});

import { createManualLifecycle } from '@spool/client';
import { type Gateway, simText } from '@spool/gateway';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  answerOf,
  MemoryStorage,
  readReplay,
  recordingFetch,
  startTestGateway,
  waitForState,
} from '../test/chat-fixtures.js';
import { requestMessages } from './chat-messages.js';
import { saveInflightProgress, saveInflightStart } from './chat-persistence.js';
import { createChatStore } from './chat-store.js';
import type { ChatStatus, ChatStoreOptions } from './chat-types.js';

let gateway: Gateway;
let storeCount = 0;

beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway.close();
});

function newStore(options: Partial<ChatStoreOptions> = {}) {
  storeCount += 1;
  const history = new MemoryStorage();
  const session = new MemoryStorage();
  const store = createChatStore({
    baseURL: `${gateway.url}/v1`,
    model: 'sim',
    storageKey: `test-${storeCount}`,
    storage: { history, session },
    ...options,
  });
  return { store, history, session };
}

function expectedText(...contents: Array<[role: 'user' | 'assistant', content: string]>): string {
  return simText({ model: 'sim', messages: contents.map(([role, content]) => ({ role, content })) });
}

describe('requestMessages', () => {
  const messages = [
    { id: '1', role: 'user' as const, content: 'one' },
    { id: '2', role: 'assistant' as const, content: 'first', state: 'done' as const },
    { id: '3', role: 'user' as const, content: 'two' },
    { id: '4', role: 'assistant' as const, content: '', state: 'error' as const },
    { id: '5', role: 'user' as const, content: 'three' },
  ];

  test('sends the whole conversation, minus failed empty answers, after the system prompt', () => {
    expect(requestMessages(messages, Infinity, 'Be brief.')).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'first' },
      { role: 'user', content: 'two' },
      { role: 'user', content: 'three' },
    ]);
  });

  test('a context window keeps only the last N messages; the system prompt is not counted', () => {
    expect(requestMessages(messages, 2, 'S')).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'two' },
      { role: 'user', content: 'three' },
    ]);
  });
});

describe('createChatStore against a real gateway', () => {
  test('streams the answer, ends with the sim text exactly, and reports time to first token', async () => {
    const { store, history } = newStore();
    const statuses: ChatStatus[] = [];
    store.subscribe(() => {
      const { status } = store.getSnapshot();
      if (statuses.at(-1) !== status) statuses.push(status);
    });
    await store.send('Hello there');
    const state = store.getSnapshot();
    expect(state.status).toBe('done');
    expect(answerOf(state)).toBe(expectedText(['user', 'Hello there']));
    expect(state.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(state.messages[1]?.state).toBe('done');
    expect(statuses).toEqual(['idle', 'connecting', 'streaming', 'done']);
    expect(state.stats?.timeToFirstTokenMs).toBeGreaterThanOrEqual(0);
    expect(state.stats?.tokens).toBeGreaterThan(3);
    expect(state.streamId).toMatch(/^str_/);
    expect(JSON.parse(history.getItem('test-1:history') ?? '{}').messages).toHaveLength(2);
    store.dispose();
  });

  test('resumes after the gateway cuts the connection mid-answer, without a gap or a repeat', async () => {
    const { store } = newStore();
    const sawReconnect = waitForState(store, (state) => state.status === 'reconnecting');
    // Paced so the response headers (with X-Stream-Id) are on the wire before the cut; see the report.
    await store.send('cut me', { headers: { 'x-spool-fault': 'client-cut-after=4;tps=50' } });
    const reconnecting = await sawReconnect;
    expect(reconnecting.retryInfo).toMatchObject({ attempt: 1, code: expect.any(String) });
    expect(reconnecting.retryInfo?.nextRetryAt).toBeGreaterThan(0);
    const state = store.getSnapshot();
    expect(state.status).toBe('done');
    expect(answerOf(state)).toBe(expectedText(['user', 'cut me']));
    expect(state.stats?.reconnects).toBe(1);
    expect(state.retryInfo).toBeUndefined();
  });

  test('a 429 before the first byte shows the retry it waits for, then succeeds', async () => {
    const { store } = newStore({ client: { retry: { initialDelayMs: 5, maxDelayMs: 50 } } });
    const sawRetry = waitForState(store, (state) => state.retryInfo !== undefined);
    await store.send('rate limited', {
      headers: { 'x-spool-fault': `status=429;retry-after=0;times=1;key=store-429-${Date.now()}` },
    });
    const retrying = await sawRetry;
    expect(retrying.status).toBe('reconnecting');
    expect(retrying.retryInfo?.code).toBe('sim_fault');
    const state = store.getSnapshot();
    expect(state.status).toBe('done');
    expect(answerOf(state)).toBe(expectedText(['user', 'rate limited']));
  });

  test('Stop cancels the generation on the gateway; the stream ends with stream_cancelled', async () => {
    const { store, session } = newStore();
    const sending = store.send('stop me', { headers: { 'x-spool-fault': 'tps=20' } });
    const streaming = await waitForState(store, (state) => answerOf(state).length > 0);
    await store.stop();
    await sending;
    const state = store.getSnapshot();
    expect(state.status).toBe('idle');
    expect(state.messages.at(-1)?.state).toBe('stopped');
    expect(answerOf(state).length).toBeLessThan(expectedText(['user', 'stop me']).length);
    expect(session.items.size).toBe(0);
    const replay = await readReplay(gateway.url, streaming.streamId ?? '');
    expect(replay).toContain('stream_cancelled');
  });

  test('a page reloaded mid-answer reattaches from the last event shown and completes it exactly', async () => {
    const history = new MemoryStorage();
    const session = new MemoryStorage();
    const storage = { history, session };
    // The first page: the gateway stops writing after 5 events, as a page frozen by a reload would see.
    const first = createChatStore({
      baseURL: `${gateway.url}/v1`,
      storageKey: 'reload',
      storage,
      client: { retry: false, idleTimeoutMs: 0 },
    });
    void first.send('survive a reload', { headers: { 'x-spool-fault': 'client-stall-after=5' } });
    const frozen = await waitForState(first, (state) => answerOf(state) !== '' && state.stats?.events === 5);
    const progress = JSON.parse(session.getItem('reload:inflight:progress') ?? '{}');
    expect(progress).toEqual({
      version: 1,
      streamId: frozen.streamId,
      lastEventId: 5,
      text: answerOf(frozen),
    });

    // The reloaded page: a new store over the same storage shows the partial answer, then resumes.
    const second = createChatStore({ baseURL: `${gateway.url}/v1`, storageKey: 'reload', storage });
    expect(answerOf(second.getSnapshot())).toBe(answerOf(frozen));
    expect(second.getSnapshot().status).toBe('connecting');
    await second.resume();
    const state = second.getSnapshot();
    expect(state.status).toBe('done');
    expect(answerOf(state)).toBe(expectedText(['user', 'survive a reload']));
    expect(state.messages).toHaveLength(2);
    expect(session.items.size).toBe(0);
    first.dispose();
    second.dispose();
  });

  test('detach lets go without DELETE; the gateway completes the answer; resume() picks it up exactly', async () => {
    const recorded = recordingFetch();
    const { store, session } = newStore({ client: { fetch: recorded.fetch } });
    const sending = store.send('detach me', { headers: { 'x-spool-fault': 'tps=50' } });
    const partial = await waitForState(store, (state) => answerOf(state).length > 0);
    store.detach();
    await sending;
    const detached = store.getSnapshot();
    expect(detached.status).toBe('connecting');
    expect(detached.messages.at(-1)?.state).toBe('streaming');
    const shown = answerOf(detached);
    expect(shown.startsWith(answerOf(partial))).toBe(true);
    const progress = JSON.parse(session.getItem(`test-${storeCount}:inflight:progress`) ?? '{}');
    expect(progress).toMatchObject({ streamId: partial.streamId, text: shown });
    expect(progress.lastEventId).toBeGreaterThan(0);

    const replay = await readReplay(gateway.url, partial.streamId ?? '');
    expect(replay).toContain('data: [DONE]');
    expect(replay).not.toContain('stream_cancelled');
    expect(recorded.requests.map((request) => request.method)).not.toContain('DELETE');

    await store.resume();
    const state = store.getSnapshot();
    expect(state.status).toBe('done');
    expect(answerOf(state)).toBe(expectedText(['user', 'detach me']));
    expect(state.messages).toHaveLength(2);
    expect(recorded.requests.at(-1)).toEqual({
      method: 'GET',
      url: `${gateway.url}/v1/streams/${partial.streamId}`,
      lastEventId: String(progress.lastEventId),
    });
    expect(session.items.size).toBe(0);
  });

  test('detach before the gateway named the stream ends the empty answer: nothing to resume', async () => {
    const { store, session } = newStore();
    const sawRetry = waitForState(store, (state) => state.status === 'reconnecting');
    const sending = store.send('not yet', {
      headers: { 'x-spool-fault': `status=429;retry-after=30;times=1;key=store-detach-${Date.now()}` },
    });
    await sawRetry;
    store.detach();
    await sending;
    const state = store.getSnapshot();
    expect(state.status).toBe('idle');
    expect(state.messages.map((message) => message.role)).toEqual(['user']);
    expect(session.items.size).toBe(0);
    await store.resume();
    expect(store.getSnapshot().status).toBe('idle');
  });

  test('reports offline while the device is offline with an answer open', async () => {
    const lifecycle = createManualLifecycle(true);
    const { store } = newStore({ client: { lifecycle } });
    const sending = store.send('offline', { headers: { 'x-spool-fault': 'tps=60' } });
    await waitForState(store, (state) => state.status === 'streaming');
    lifecycle.setOnline(false);
    expect(store.getSnapshot().status).toBe('offline');
    lifecycle.setOnline(true);
    expect(store.getSnapshot().status).toBe('streaming');
    await sending;
    expect(answerOf(store.getSnapshot())).toBe(expectedText(['user', 'offline']));
  });

  test('a failure shows the error; retry asks again and replaces the failed answer', async () => {
    const { store } = newStore();
    await store.send('fail once', {
      headers: { 'x-spool-fault': `status=400;times=1;key=store-400-${Date.now()}` },
    });
    const failed = store.getSnapshot();
    expect(failed.status).toBe('error');
    expect(failed.error?.status).toBe(400);
    expect(failed.messages.at(-1)?.state).toBe('error');
    await store.retry();
    const state = store.getSnapshot();
    expect(state.status).toBe('done');
    expect(state.error).toBeUndefined();
    expect(state.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(answerOf(state)).toBe(expectedText(['user', 'fail once']));
  });

  test('regenerate replaces the last answer; a context window bounds what is sent', async () => {
    const { store } = newStore({ contextWindow: 2 });
    await store.send('one');
    const first = answerOf(store.getSnapshot());
    expect(first).toBe(expectedText(['user', 'one']));
    await store.send('two');
    const second = expectedText(['assistant', first], ['user', 'two']);
    expect(answerOf(store.getSnapshot())).toBe(second);
    await store.regenerate();
    const state = store.getSnapshot();
    expect(state.messages).toHaveLength(4);
    expect(answerOf(state)).toBe(second);
  });

  test('history survives a new store; clear forgets it; persistHistory false stores nothing', async () => {
    const { store, history, session } = newStore();
    await store.send('remember me');
    const again = createChatStore({
      baseURL: `${gateway.url}/v1`,
      storageKey: `test-${storeCount}`,
      storage: { history, session },
    });
    expect(again.getSnapshot().messages).toEqual(store.getSnapshot().messages);
    again.clear();
    expect(again.getSnapshot().messages).toEqual([]);
    expect(history.items.size).toBe(0);

    const { store: forgetful, history: unused } = newStore({ persistHistory: false });
    await forgetful.send('forget me');
    expect(unused.items.size).toBe(0);
  });

  test('the idle watchdog notices a stalled connection and the answer resumes exactly', async () => {
    const { store } = newStore();
    await store.send('stall me', {
      headers: { 'x-spool-fault': 'client-stall-after=4' },
      idleTimeoutMs: 300,
    });
    const state = store.getSnapshot();
    expect(state.stats?.reconnects).toBe(1);
    expect(answerOf(state)).toBe(expectedText(['user', 'stall me']));
  });

  test('an in-flight record naming an unknown stream ends in an error that retry() recovers from', async () => {
    const history = new MemoryStorage();
    const session = new MemoryStorage();
    const streamId = 'str_unknownunknownunknown';
    saveInflightStart(session, 'gone:inflight', {
      streamId,
      assistantId: 'a1',
      model: 'sim',
      messages: [{ id: 'u1', role: 'user', content: 'gone' }],
    });
    saveInflightProgress(session, 'gone:inflight', { streamId, lastEventId: 3, text: 'Half an' });
    const store = createChatStore({
      baseURL: `${gateway.url}/v1`,
      storageKey: 'gone',
      storage: { history, session },
    });
    await store.resume();
    const failed = store.getSnapshot();
    expect(failed.status).toBe('error');
    expect(failed.error?.code).toBe('stream_not_found');
    expect(failed.messages.at(-1)).toMatchObject({ content: 'Half an', state: 'error' });
    await store.retry();
    expect(answerOf(store.getSnapshot())).toBe(expectedText(['user', 'gone']));
    expect(store.getSnapshot().messages).toHaveLength(2);
  });

  test('an answer stored mid-stream without an in-flight record is shown as stopped, or dropped if empty', () => {
    const history = new MemoryStorage();
    history.setItem(
      'interrupted:history',
      JSON.stringify({
        version: 1,
        messages: [
          { id: 'u1', role: 'user', content: 'one' },
          { id: 'a1', role: 'assistant', content: 'partial', state: 'streaming' },
          { id: 'u2', role: 'user', content: 'two' },
          { id: 'a2', role: 'assistant', content: '', state: 'streaming' },
        ],
      }),
    );
    const store = createChatStore({
      baseURL: `${gateway.url}/v1`,
      storageKey: 'interrupted',
      storage: { history, session: new MemoryStorage() },
    });
    expect(store.getSnapshot().status).toBe('idle');
    expect(store.getSnapshot().messages.map((message) => message.state ?? message.content)).toEqual([
      'one',
      'stopped',
      'two',
    ]);
  });
});

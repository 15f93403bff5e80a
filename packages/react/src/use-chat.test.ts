// @vitest-environment happy-dom-node
import type { Gateway } from '@spool/gateway';
import { simText } from '@spool/gateway';
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { answerOf, readReplay, recordingFetch, startTestGateway } from '../test/chat-fixtures.js';
import { createChatStore } from './chat-store.js';
import { useChat } from './use-chat.js';

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});
afterEach(() => {
  cleanup();
  localStorage.clear();
  sessionStorage.clear();
});
afterAll(async () => {
  await gateway.close();
});

const expected = (content: string) => simText({ model: 'sim', messages: [{ role: 'user', content }] });

describe('useChat against a real gateway (happy-dom, Node fetch)', () => {
  test('handleSubmit sends the input, empties it and renders the streamed answer exactly', async () => {
    const { result } = renderHook(() => useChat({ baseURL: `${gateway.url}/v1`, model: 'sim' }));
    expect(result.current.status).toBe('idle');
    act(() => result.current.setInput('What is a spool?'));
    act(() => result.current.handleSubmit({ preventDefault: () => {} }));
    expect(result.current.input).toBe('');
    await waitFor(() => expect(result.current.status).toBe('done'));
    expect(answerOf(result.current)).toBe(expected('What is a spool?'));
    expect(result.current.stats?.timeToFirstTokenMs).toBeGreaterThanOrEqual(0);
    expect(result.current.isBusy).toBe(false);
    expect(JSON.parse(localStorage.getItem('spool-chat:history') ?? '{}').messages).toHaveLength(2);
  });

  test('a remounted page reattaches to the answer under way and completes it without repeats', async () => {
    const first = renderHook(() =>
      useChat({ baseURL: `${gateway.url}/v1`, client: { retry: false, idleTimeoutMs: 0 } }),
    );
    act(() => {
      void first.result.current.send('reload me', { headers: { 'x-spool-fault': 'client-stall-after=4' } });
    });
    await waitFor(() => expect(first.result.current.stats?.events).toBe(4));
    const partial = answerOf(first.result.current);
    expect(partial).not.toBe('');
    first.unmount();

    const second = renderHook(() => useChat({ baseURL: `${gateway.url}/v1` }));
    expect(answerOf(second.result.current)).toBe(partial);
    await waitFor(() => expect(second.result.current.status).toBe('done'));
    expect(answerOf(second.result.current)).toBe(expected('reload me'));
    expect(second.result.current.messages).toHaveLength(2);
    expect(sessionStorage.length).toBe(0);
  });

  test('unmounting detaches: no DELETE, the gateway completes the answer, a remount resumes it exactly', async () => {
    const recorded = recordingFetch();
    const options = { baseURL: `${gateway.url}/v1`, client: { fetch: recorded.fetch } };
    const first = renderHook(() => useChat(options));
    act(() => {
      void first.result.current.send('leave me', { headers: { 'x-spool-fault': 'tps=50' } });
    });
    await waitFor(() => expect(answerOf(first.result.current)).not.toBe(''));
    const streamId = first.result.current.streamId ?? '';
    first.unmount();
    const replay = await readReplay(gateway.url, streamId);
    expect(replay).toContain('data: [DONE]');
    expect(replay).not.toContain('stream_cancelled');
    expect(recorded.requests.map((request) => request.method)).toEqual(['POST']);
    const progress = JSON.parse(sessionStorage.getItem('spool-chat:inflight:progress') ?? '{}');
    expect(progress.streamId).toBe(streamId);

    const second = renderHook(() => useChat(options));
    expect(answerOf(second.result.current)).toBe(progress.text);
    await waitFor(() => expect(second.result.current.status).toBe('done'));
    expect(answerOf(second.result.current)).toBe(expected('leave me'));
    expect(recorded.requests.map((request) => `${request.method} ${request.lastEventId}`)).toEqual([
      'POST null',
      `GET ${progress.lastEventId}`,
    ]);
    expect(sessionStorage.length).toBe(0);
  });

  test('a store shared by two components keeps streaming until the last of them unmounts', async () => {
    const recorded = recordingFetch();
    const store = createChatStore({ baseURL: `${gateway.url}/v1`, client: { fetch: recorded.fetch } });
    const one = renderHook(() => useChat({ store }));
    const two = renderHook(() => useChat({ store }));
    act(() => {
      void store.send('shared', { headers: { 'x-spool-fault': 'tps=50' } });
    });
    await waitFor(() => expect(answerOf(two.result.current)).not.toBe(''));
    one.unmount();
    // The answer is paced at 50 tokens a second: it takes longer than waitFor's default second.
    await waitFor(() => expect(two.result.current.status).toBe('done'), { timeout: 15_000 });
    expect(answerOf(two.result.current)).toBe(expected('shared'));
    expect(recorded.requests.map((request) => request.method)).toEqual(['POST']);
  });

  test('stop ends the answer and cancels the generation on the gateway', async () => {
    const { result } = renderHook(() => useChat({ baseURL: `${gateway.url}/v1` }));
    act(() => {
      void result.current.send('please stop', { headers: { 'x-spool-fault': 'tps=30' } });
    });
    await waitFor(() => expect(answerOf(result.current)).not.toBe(''));
    const streamId = result.current.streamId ?? '';
    await act(() => result.current.stop());
    expect(result.current.status).toBe('idle');
    expect(result.current.messages.at(-1)?.state).toBe('stopped');
    expect(await readReplay(gateway.url, streamId)).toContain('stream_cancelled');
  });

  test('history from localStorage is shown on mount; clear empties it; opting out stores nothing', async () => {
    const first = renderHook(() => useChat({ baseURL: `${gateway.url}/v1` }));
    await act(() => first.result.current.send('keep this'));
    first.unmount();
    const second = renderHook(() => useChat({ baseURL: `${gateway.url}/v1` }));
    expect(second.result.current.messages.map((message) => message.content)).toEqual([
      'keep this',
      expected('keep this'),
    ]);
    act(() => second.result.current.clear());
    expect(second.result.current.messages).toEqual([]);
    expect(localStorage.getItem('spool-chat:history')).toBeNull();

    const optedOut = renderHook(() => useChat({ baseURL: `${gateway.url}/v1`, persistHistory: false }));
    await act(() => optedOut.result.current.send('do not keep'));
    expect(localStorage.length).toBe(0);
  });
});

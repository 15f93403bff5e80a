import { type Gateway, simText } from '@spool/gateway';
import { createChatStore } from '@spool/react';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  answerOf,
  MemoryStorage,
  startTestGateway,
  waitForState,
} from '../../../packages/react/test/chat-fixtures.js';
import { createCuttableFetch } from '../src/cuttable-fetch.js';

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway.close();
});

test('the client side can cut its own connection; the answer still completes exactly', async () => {
  const cuttable = createCuttableFetch();
  const store = createChatStore({
    baseURL: `${gateway.url}/v1`,
    model: 'sim',
    storage: { history: new MemoryStorage(), session: new MemoryStorage() },
    client: { fetch: cuttable.fetch },
  });
  expect(cuttable.cut()).toBe(false);
  const sending = store.send('client cut', { headers: { 'x-spool-fault': 'tps=50' } });
  await waitForState(store, (state) => answerOf(state).length > 0);
  expect(cuttable.cut()).toBe(true);
  await sending;
  const state = store.getSnapshot();
  expect(state.stats?.reconnects).toBe(1);
  expect(answerOf(state)).toBe(
    simText({ model: 'sim', messages: [{ role: 'user', content: 'client cut' }] }),
  );
});

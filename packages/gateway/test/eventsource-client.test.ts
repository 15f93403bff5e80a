import { createFaultProxy, cutAfterBytes } from '@spool/testkit';
import { EventSource } from 'eventsource';
import { describe, expect, it } from 'vitest';
import { simText } from '../src/index.js';
import { parseSse, postChat, requestAndCut, startTestGateway } from './helpers.js';

const messages = [{ role: 'user' as const, content: 'A native EventSource resumes this.' }];

describe('the eventsource package (a WHATWG EventSource nobody here wrote)', () => {
  it('resumes GET /v1/streams/{id} with Last-Event-ID after its connection is cut, exactly', async () => {
    const gateway = await startTestGateway({ server: { retryMs: 5 } });
    const port = Number(new URL(gateway.url).port);
    const proxy = await createFaultProxy({
      target: { host: '127.0.0.1', port },
      plan: (index: number) => (index === 0 ? [cutAfterBytes(700)] : []),
    });
    try {
      // Start a paced stream and drop its POST at once, as a browser tab that lost the network would.
      const started = await requestAndCut(
        `${gateway.url}/v1/chat/completions`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-spool-fault': 'tps=300' },
          body: JSON.stringify({ model: 'sim', messages, stream: true }),
        },
        1,
      );
      const streamId = started.headers['x-stream-id'];
      const source = new EventSource(`${proxy.url}/v1/streams/${streamId}`);
      const ids: string[] = [];
      let text = '';
      const errors: string[] = [];
      await new Promise<void>((resolve, reject) => {
        source.onmessage = (event) => {
          ids.push(event.lastEventId);
          if (event.data === '[DONE]') {
            source.close();
            resolve();
            return;
          }
          const chunk = JSON.parse(event.data);
          if (chunk.error) reject(new Error(chunk.error.message));
          text += chunk.choices[0]?.delta?.content ?? '';
        };
        source.onerror = (event) => {
          errors.push(String(event.message ?? 'error'));
        };
      });
      expect(text).toBe(simText({ model: 'sim', messages }));
      expect(ids.map(Number)).toEqual(ids.map((_, index) => index + 1));
      expect(proxy.stats.cuts).toBe(1);
      expect(proxy.stats.connections).toBeGreaterThanOrEqual(2);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      const after = await postChat(gateway.url, { model: 'sim', messages, stream: true });
      expect(after.status).toBe(200);
    } finally {
      await proxy.close();
      await gateway.close();
    }
  });

  it('stops reconnecting after reading a finished stream to its end: its reconnect is answered 204', async () => {
    const gateway = await startTestGateway({ server: { retryMs: 5 } });
    try {
      const finished = await postChat(gateway.url, { model: 'sim', messages, stream: true });
      // Left open at [DONE], as a page that does not close it would: the end of the body is a drop to it.
      const source = new EventSource(`${gateway.url}/v1/streams/${finished.headers['x-stream-id']}`);
      const ids: string[] = [];
      const closed = new Promise<{ code: number | undefined }>((resolve) => {
        source.onmessage = (event) => ids.push(event.lastEventId);
        source.onerror = (event) => {
          if (source.readyState === EventSource.CLOSED) resolve({ code: event.code });
        };
      });
      expect(await closed).toEqual({ code: 204 });
      expect(ids.map(Number)).toEqual(ids.map((_, index) => index + 1));
      expect(ids.at(-1)).toBe(parseSse(finished.body).at(-1)?.id);
    } finally {
      await gateway.close();
    }
  });
});

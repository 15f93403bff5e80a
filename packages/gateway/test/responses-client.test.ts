import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createClient, type ResponsesStreamEvent } from '@spool/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import { simStats, spawnSim, startTestGateway } from './helpers.js';

const input = 'Resume my Responses stream, please.';
const expected = simText({ model: 'sim', messages: [{ role: 'user', content: input }] });

describe('@spool/client responses.stream against the gateway', () => {
  let sim: { child: ChildProcess; baseURL: string };
  let gateway: Gateway;

  beforeAll(async () => {
    sim = await spawnSim();
    gateway = await startTestGateway({
      server: { faultInjection: true, retryMs: 10 },
      providers: { upstream: { type: 'openai', baseURL: sim.baseURL } },
      models: [{ match: '*', provider: 'upstream' }],
    });
  });
  afterAll(async () => {
    await gateway.close();
    sim.child.kill('SIGTERM');
    await once(sim.child, 'exit');
  });

  it('resumes by starting_after after a cut at every event, with the exact text, one generation each, and normalized events', async () => {
    const client = createClient({
      baseURL: `${gateway.url}/v1`,
      retry: { initialDelayMs: 0, jitter: 'none' },
    });
    const whole = client.responses.stream({ model: 'sim', input });
    const all: ResponsesStreamEvent[] = [];
    for await (const event of whole) all.push(event);
    const raw = all.filter((event) => event.type === 'event');
    expect(await whole.text()).toBe(expected);
    expect(whole.lastSequenceNumber).toBe(raw.length - 1);
    expect(whole.responseId).toMatch(/^resp_/);
    expect(all.filter((event) => event.type === 'finish')).toEqual([
      { type: 'finish', choiceIndex: 0, finishReason: 'stop' },
    ]);
    expect(all.some((event) => event.type === 'usage')).toBe(true);
    expect((await whole.finalResponse())?.status).toBe('completed');

    // Cuts early (before any text, at the first deltas), mid-way and just before the terminal event.
    const cuts = [1, 2, 3, 4, 5, Math.floor(raw.length / 2), raw.length - 2, raw.length - 1];
    for (const cutAfter of cuts) {
      const before = (await simStats(sim.baseURL)).chatCompletions;
      const statuses: string[] = [];
      const sequence: number[] = [];
      const stream = client.responses.stream(
        { model: 'sim', input },
        {
          headers: { 'x-spool-fault': `client-cut-after=${cutAfter}` },
          onStatus: (status) => statuses.push(status.type),
          onEvent: (event) => {
            if (event.type === 'event') sequence.push(event.event.sequence_number as number);
          },
        },
      );
      expect(await stream.text()).toBe(expected);
      expect(sequence).toEqual(raw.map((_, index) => index));
      expect(statuses).toContain('resumed');
      expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
    }
  });

  it('cancels the generation when the caller cancels (POST /responses/{id}/cancel)', async () => {
    const slow = await startTestGateway({
      providers: { sim: { type: 'sim', ttftMs: 0, tokensPerSecond: 20 } },
      models: [{ match: '*', provider: 'sim' }],
    });
    try {
      const client = createClient({ baseURL: `${slow.url}/v1` });
      const stream = client.responses.stream({ model: 'sim', input });
      for await (const event of stream) {
        if (event.type === 'text-delta') {
          stream.cancel();
          break;
        }
      }
      const responseId = stream.responseId as string;
      // The cancel is sent on its own request; the stream ends cancelled once the relay stopped it.
      for (;;) {
        const meta = await slow.context.store.getMeta(`str_${responseId.slice(5)}`);
        if (meta && meta !== 'expired' && meta.state !== 'streaming') {
          expect(meta.state).toBe('cancelled');
          break;
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      await slow.close();
    }
  });
});

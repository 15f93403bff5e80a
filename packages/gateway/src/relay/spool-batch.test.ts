import { describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../spool/memory-store.js';
import { SpoolBatch } from './spool-batch.js';

const chunk = (delta: string, extra = '') =>
  `{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":${delta},"finish_reason":null}]${extra}}`;

async function run(events: string[], stripUsage = false) {
  const store = new MemoryStore({ retentionMs: 60_000, maxStreamBytes: 1_000_000, sweepIntervalMs: 0 });
  const observer = { onFirstToken: vi.fn(), onUsage: vi.fn() };
  await store.create({ id: 's', ownerId: 'o', model: 'm', createdAt: 0, state: 'pending' });
  const batch = new SpoolBatch(store, 's', stripUsage, observer, undefined);
  const [first, ...rest] = events.map((data) => ({ data }));
  const ended = first ? batch.take(first, rest) : false;
  await batch.store();
  let stored = '';
  const reader = store.read('s', 0);
  reader.pull(
    (result) => {
      if (!result.done) stored = result.value;
    },
    (error) => {
      throw error;
    },
  );
  await store.close();
  return { batch, observer, ended, stored };
}

describe('SpoolBatch', () => {
  it('counts content and tool-call deltas in every spelling, and not empty or role-only ones', async () => {
    const { batch, observer } = await run([
      chunk('{"role":"assistant","content":""}'),
      chunk('{"content":"Hel"}'),
      chunk('{"content" : "lo"}'),
      chunk('{"content":"\\"quoted\\""}'),
      chunk('{"content":null,"tool_calls":[{"index":0,"function":{"arguments":""}}]}'),
      chunk('{"tool_calls":[{"index":0,"function":{"arguments":"{\\"a\\":1}"}}]}'),
      chunk('{"content":""}'),
      chunk('{}', ',"usage":null'),
    ]);
    expect(batch.contentDeltas).toBe(5);
    expect(observer.onFirstToken).toHaveBeenCalledTimes(1);
    expect(observer.onUsage).not.toHaveBeenCalled();
  });

  it('reports usage wherever a chunk carries it, and strips usage-only chunks when asked', async () => {
    const usage = '{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}';
    const usageOnly = `{"id":"c1","choices":[],"usage":${usage}}`;
    const { observer, stored } = await run(
      [chunk('{"content":"a"}', `,"usage" : ${usage}`), usageOnly],
      true,
    );
    expect(observer.onUsage).toHaveBeenCalledTimes(2);
    expect(observer.onUsage).toHaveBeenCalledWith(JSON.parse(usage));
    expect(stored).toContain('"content":"a"');
    expect(stored).not.toContain('"choices":[]');
  });

  it('numbers events from 1 and ends at [DONE] or an error event', async () => {
    const done = await run([chunk('{"content":"a"}'), '[DONE]', chunk('{"content":"late"}')]);
    expect(done.ended).toBe(true);
    expect(done.stored).toBe(`id: 1\ndata: ${chunk('{"content":"a"}')}\n\nid: 2\ndata: [DONE]\n\n`);
    const failed = await run(['{"error":{"message":"boom","type":"server_error"}}']);
    expect(failed.ended).toBe(true);
    expect(failed.batch.state).toBe('error');
  });
});

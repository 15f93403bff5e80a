import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, simText } from '../src/index.js';
import {
  completeEvents,
  type ParsedEvent,
  parseSse,
  rawRequest,
  requestAndCut,
  simStats,
  spawnSim,
  startTestGateway,
} from './helpers.js';

const input = 'Why do resumable streams matter?';
const expected = simText({ model: 'sim', messages: [{ role: 'user', content: input }] });
const body = { model: 'sim', input, stream: true };

/** The text of a Responses event list, and checks their numbering: sequence_number = SSE id = 0, 1, 2 … */
function expectExactResponses(events: readonly ParsedEvent[], text = expected): void {
  const parsed = events.map(
    (event) => JSON.parse(event.data) as { type: string; sequence_number: number; delta?: string },
  );
  expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index));
  expect(parsed.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index));
  expect(events.map((event) => event.event)).toEqual(parsed.map((event) => event.type));
  expect(parsed[0]?.type).toBe('response.created');
  expect(parsed.at(-1)?.type).toBe('response.completed');
  expect(
    parsed
      .filter((event) => event.type === 'response.output_text.delta')
      .map((event) => event.delta)
      .join(''),
  ).toBe(text);
}

describe('/v1/responses over a chat-completions upstream (the standalone sim)', () => {
  let sim: { child: ChildProcess; baseURL: string };
  let gateway: Gateway;
  let client: OpenAI;
  let reference: string;

  beforeAll(async () => {
    sim = await spawnSim();
    gateway = await startTestGateway({
      providers: { upstream: { type: 'openai', baseURL: sim.baseURL } },
      models: [{ match: '*', provider: 'upstream' }],
      spool: { retentionMs: 60_000 },
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    reference = (
      await rawRequest(`${gateway.url}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).body;
  });

  afterAll(async () => {
    await gateway.close();
    sim.child.kill('SIGTERM');
    await once(sim.child, 'exit');
  });

  it('streams OpenAI-shaped events whose SSE id and sequence_number are one number, from 0, with X-Stream-Id', async () => {
    const response = await rawRequest(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(response.headers['x-stream-id']).toMatch(/^str_/);
    const events = parseSse(response.body);
    expectExactResponses(events);
    const types = events.map((event) => event.event);
    expect(types.slice(0, 5)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
    ]);
    expect(types.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const created = JSON.parse(events[0]?.data ?? '{}') as { response: { id: string } };
    expect(created.response.id).toBe(`resp_${String(response.headers['x-stream-id']).slice(4)}`);
  });

  it('answers responses.create (openai SDK) non-streamed with the final Response and its usage', async () => {
    const response = await client.responses.create({ model: 'sim', input });
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe(expected);
    expect(response.usage?.output_tokens).toBeGreaterThan(0);
    expect(response.usage?.input_tokens).toBeGreaterThan(0);
    const fetched = await client.responses.retrieve(response.id);
    expect(fetched.output_text).toBe(expected);
    expect(fetched.status).toBe('completed');
  });

  it('streams responses.create({ stream: true }) and the responses.stream() helper through the openai SDK', async () => {
    const stream = await client.responses.create({ model: 'sim', input, stream: true });
    let text = '';
    const sequence: number[] = [];
    for await (const event of stream) {
      sequence.push(event.sequence_number);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    expect(text).toBe(expected);
    expect(sequence).toEqual(sequence.map((_, index) => index));

    const helper = client.responses.stream({ model: 'sim', input });
    let helperText = '';
    helper.on('response.output_text.delta', (event) => {
      helperText += event.delta;
    });
    const final = await helper.finalResponse();
    expect(helperText).toBe(expected);
    expect(final.output_text).toBe(expected);
  });

  it('resumes a stream cut at every event boundary with responses.retrieve(id, { stream, starting_after }), exact and with one generation each', async () => {
    const boundaries: number[] = [];
    const bytes = Buffer.from(reference);
    for (let at = bytes.indexOf('\n\n'); at !== -1; at = bytes.indexOf('\n\n', at + 2))
      boundaries.push(at + 2);
    expect(boundaries.length).toBeGreaterThan(10);
    for (const cutAt of boundaries.slice(0, -1)) {
      const before = (await simStats(sim.baseURL)).chatCompletions;
      const first = await requestAndCut(
        `${gateway.url}/v1/responses`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
        cutAt,
      );
      const { events } = completeEvents(first.body);
      const streamId = String(first.headers['x-stream-id']);
      const responseId = `resp_${streamId.slice(4)}`;
      const last = events.at(-1);
      const resumed = await client.responses.retrieve(responseId, {
        stream: true,
        ...(last?.id === undefined ? {} : { starting_after: Number(last.id) }),
      });
      const rest: ParsedEvent[] = [];
      for await (const event of resumed)
        rest.push({ id: String(event.sequence_number), event: event.type, data: JSON.stringify(event) });
      expectExactResponses([...events, ...rest]);
      expect((await simStats(sim.baseURL)).chatCompletions).toBe(before + 1);
    }
  });

  it('resumes with Last-Event-ID on GET /v1/responses/{id}?stream=true and on GET /v1/streams/{id}', async () => {
    const first = await requestAndCut(
      `${gateway.url}/v1/responses`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      Buffer.from(reference).length / 2,
    );
    const { events, lastId } = completeEvents(first.body);
    expect(events.length).toBeGreaterThan(2);
    const streamId = String(first.headers['x-stream-id']);
    const viaResponses = await rawRequest(
      `${gateway.url}/v1/responses/resp_${streamId.slice(4)}?stream=true`,
      {
        headers: { 'last-event-id': String(lastId) },
      },
    );
    expectExactResponses([...events, ...parseSse(viaResponses.body)]);
    const viaStreams = await rawRequest(`${gateway.url}/v1/streams/${streamId}`, {
      headers: { 'last-event-id': String(lastId) },
    });
    expectExactResponses([...events, ...parseSse(viaStreams.body)]);
    const fromStart = await rawRequest(`${gateway.url}/v1/streams/${streamId}`);
    expectExactResponses(parseSse(fromStart.body));
    const finished = await rawRequest(
      `${gateway.url}/v1/responses/resp_${streamId.slice(4)}?stream=true&starting_after=${events.length + parseSse(viaStreams.body).length - 1}`,
    );
    expect(finished.status).toBe(204);
  });

  it('refuses what a translation cannot honour with 400 naming the param, and unknown ids with 404', async () => {
    const refused = await rawRequest(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim', input, tools: [{ type: 'web_search' }] }),
    });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).error).toMatchObject({
      param: 'tools[0].type',
      type: 'invalid_request_error',
    });
    const unknown = await rawRequest(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim', input, prompt: { id: 'pmpt_1' } }),
    });
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body).error.param).toBe('prompt');
    await expect(client.responses.retrieve('resp_doesnotexist000000000')).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      client.responses.create({ model: 'sim', input: 42 as unknown as string }),
    ).rejects.toMatchObject({
      status: 400,
      param: 'input',
    });
  });
});

describe('/v1/responses background work, polling and cancel (in-process sim)', () => {
  let gateway: Gateway;
  let client: OpenAI;

  beforeAll(async () => {
    gateway = await startTestGateway({
      providers: {
        fast: { type: 'sim', ttftMs: 0, tokensPerSecond: 0 },
        slow: { type: 'sim', ttftMs: 0, tokensPerSecond: 20 },
      },
      models: [
        { match: 'slow', provider: 'slow' },
        { match: '*', provider: 'fast' },
      ],
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => gateway.close());

  it('answers background: true at once, streams its events on request, then polls as completed', async () => {
    const started = await client.responses.create({ model: 'sim', input, background: true });
    expect(started.background).toBe(true);
    expect(['queued', 'in_progress']).toContain(started.status);
    const events = await client.responses.retrieve(started.id, { stream: true });
    let text = '';
    for await (const event of events) if (event.type === 'response.output_text.delta') text += event.delta;
    expect(text).toBe(simText({ model: 'sim', messages: [{ role: 'user', content: input }] }));
    const polled = await client.responses.retrieve(started.id);
    expect(polled.status).toBe('completed');
    expect(polled.output_text).toBe(text);
  });

  it('shows a running response in_progress, cancels it (idempotently), and its stream ends with an error event', async () => {
    const started = await client.responses.create({ model: 'slow', input, background: true });
    // Read a few deltas as they are generated, then fetch the Response: in progress, with that output so far.
    const live = await client.responses.retrieve(started.id, { stream: true });
    let seen = '';
    let deltas = 0;
    for await (const event of live) {
      if (event.type !== 'response.output_text.delta') continue;
      seen += event.delta;
      if (++deltas === 3) break;
    }
    const running = await client.responses.retrieve(started.id);
    expect(running.status).toBe('in_progress');
    expect(running.output_text.startsWith(seen)).toBe(true);
    expect(running.output_text.length).toBeLessThan(
      simText({ model: 'slow', messages: [{ role: 'user', content: input }] }).length,
    );
    const cancelled = await client.responses.cancel(started.id);
    expect(cancelled.status).toBe('cancelled');
    const again = await client.responses.cancel(started.id);
    expect(again.status).toBe('cancelled');
    const replay = parseSse((await rawRequest(`${gateway.url}/v1/responses/${started.id}?stream=true`)).body);
    const last = JSON.parse(replay.at(-1)?.data ?? '{}') as { type: string; code: string };
    expect(replay.at(-1)?.event).toBe('error');
    expect(last).toMatchObject({ type: 'error', code: 'stream_cancelled' });
    expect((await client.responses.retrieve(started.id)).status).toBe('cancelled');
    await client.responses.delete(started.id);
    await expect(client.responses.retrieve(started.id)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses to delete a running response (409) and forgets a store: false response once it ended', async () => {
    const running = await client.responses.create({ model: 'slow', input, background: true });
    await expect(client.responses.delete(running.id)).rejects.toMatchObject({ status: 409 });
    await client.responses.cancel(running.id);
    const unstored = await client.responses.create({ model: 'sim', input, store: false });
    expect(unstored.output_text.length).toBeGreaterThan(0);
    await expect(client.responses.retrieve(unstored.id)).rejects.toMatchObject({ status: 404 });
    await expect(
      client.responses.create({ model: 'sim', input, previous_response_id: unstored.id }),
    ).rejects.toMatchObject({ status: 400, param: 'previous_response_id' });
  });
});

describe('/v1/responses background work with spool.disconnectGraceMs set', () => {
  it('generates a background response to the end after its last reader left, while a foreground one is abandoned', async () => {
    const gateway = await startTestGateway({
      providers: { slow: { type: 'sim', ttftMs: 0, tokensPerSecond: 200 } },
      models: [{ match: '*', provider: 'slow' }],
      spool: { disconnectGraceMs: 1 },
    });
    try {
      const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const ended = async (responseId: string) => {
        for (;;) {
          const meta = await gateway.context.store.getMeta(`str_${responseId.slice(5)}`);
          if (meta && meta !== 'expired' && meta.state !== 'streaming' && meta.state !== 'pending')
            return meta.state;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      };
      const leaveAfterFirstDelta = async (stream: AsyncIterable<{ type: string }>) => {
        for await (const event of stream) if (event.type === 'response.output_text.delta') break;
      };
      const background = await client.responses.create({ model: 'sim', input, background: true });
      await leaveAfterFirstDelta(await client.responses.retrieve(background.id, { stream: true }));
      expect(await ended(background.id)).toBe('done');
      let foregroundId = '';
      const foreground = await client.responses.create({ model: 'sim', input, stream: true });
      for await (const event of foreground) {
        if (event.type === 'response.created') foregroundId = event.response.id;
        if (event.type === 'response.output_text.delta') break;
      }
      expect(await ended(foregroundId)).toBe('cancelled');
    } finally {
      await gateway.close();
    }
  });
});

describe('/v1/responses keys, limits and usage', () => {
  const key = 'sk-responses-key-0001';
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ keys: [{ name: 'team', key, limits: { requestsPerMinute: 2 } }] });
  });
  afterAll(() => gateway.close());

  it('admits by the key’s limits (429 past them) but never limits a resume, and records Responses usage', async () => {
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 });
    await expect(
      new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 }).responses.create({
        model: 'sim',
        input,
      }),
    ).rejects.toMatchObject({ status: 401 });
    const first = await client.responses.create({ model: 'sim', input });
    const second = await client.responses.create({ model: 'sim', input: 'Another one' });
    await expect(client.responses.create({ model: 'sim', input })).rejects.toMatchObject({
      status: 429,
      code: 'rate_limit_exceeded',
    });
    // Reads and resumes are not new requests.
    const replay = await client.responses.retrieve(first.id, { stream: true, starting_after: 0 });
    let text = '';
    for await (const event of replay) if (event.type === 'response.output_text.delta') text += event.delta;
    expect(text).toBe(first.output_text);
    expect((await client.responses.retrieve(second.id)).status).toBe('completed');
    const usage = JSON.parse(
      (await rawRequest(`${gateway.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).body,
    ) as { data: Array<{ requests: number; prompt_tokens: number; completion_tokens: number }> };
    expect(usage.data).toEqual([
      expect.objectContaining({
        prompt_tokens: (first.usage?.input_tokens ?? 0) + (second.usage?.input_tokens ?? 0),
        completion_tokens: (first.usage?.output_tokens ?? 0) + (second.usage?.output_tokens ?? 0),
      }),
    ]);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { misshapenChunkData, wellFormedChunkData } from '../../test/chat-chunk-shapes.js';
import { openScriptedSse, type ScriptedController, split, tick } from '../../test/scripted-dispatcher.js';
import { UpstreamError } from '../errors.js';
import { normalizeChatEvent, normalizeChatEvents } from './normalize-chat-events.js';
import type { UpstreamEvent } from './provider.js';

/**
 * The upstream reader of the chat surface (requestSse's handler, the SSE decoder and parser, the
 * chat normalizer) driven as undici drives it — pushed chunk by chunk, paused and resumed — against
 * streams of valid chunks, named events, pings, garbage lines, chunks whose fields have the wrong
 * type and events past the bound, cut at random bytes, read by a consumer that falls behind at
 * random. It never hangs, never relays a malformed chunk, and gives exactly what reading the whole
 * stream at once would.
 */

const MAX_EVENT_BYTES = 8 * 1024;

/** One block of the upstream's stream: its field lines, the event it dispatches, whether it is past the bound. */
interface Block {
  lines: string[];
  event: UpstreamEvent | undefined;
  oversize: boolean;
  /** A chunk that must be relayed as it came (`relay`), or one that must end the stream (`reject`). */
  chunk?: 'relay' | 'reject';
}

const text = (maxLength: number) =>
  fc.string({ unit: fc.constantFrom('a', 'b', ' ', 'é', '🌍', '"', '\\', '{', '}'), maxLength, size: 'max' });

/** A line with no line break in it (garbage an upstream might send). */
const line = fc.string({ maxLength: 40 }).map((value) => value.replace(/[\r\n]/g, ''));

function chunkJson(content: string): string {
  return JSON.stringify({
    id: 'c',
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta: { content } }],
  });
}

const dataBlock = (data: string, name?: string | null): Block => ({
  lines: [...(name ? [`event: ${name}`] : []), ...data.split('\n').map((part) => `data: ${part}`)],
  event: { data, event: name ?? undefined },
  oversize: false,
});

/** Blocks a well-behaved upstream may send: chunks (named or not), pings, comments, other fields. */
const wellBehaved: fc.Arbitrary<Block> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(text(3000), fc.option(fc.constantFrom('message', 'delta', 'x'), { freq: 3 }))
      .map(([content, name]) => dataBlock(chunkJson(content), name)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(wellFormedChunkData, fc.option(fc.constantFrom('message', 'delta'), { freq: 3 }))
      .map(([data, name]): Block => ({ ...dataBlock(data, name), chunk: 'relay' })),
  },
  { weight: 1, arbitrary: fc.constant(dataBlock('[DONE]')) },
  { weight: 1, arbitrary: line.map((data) => dataBlock(data, 'ping')) },
  {
    weight: 1,
    arbitrary: line.map((comment): Block => ({ lines: [`:${comment}`], event: undefined, oversize: false })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('id: 3', 'retry: 10', 'foo: bar', 'event: lonely')
      .map((field): Block => ({ lines: [field], event: undefined, oversize: false })),
  },
);

/** Blocks that end the stream or are normalized: garbage, errors, events past the bound. */
const misbehaved: fc.Arbitrary<Block> = fc.oneof(
  // Data over two lines: valid JSON or not, depending on where it was cut.
  fc.tuple(text(50), fc.nat()).map(([content, at]) => {
    const json = chunkJson(content);
    const cut = at % json.length;
    return dataBlock(`${json.slice(0, cut)}\n${json.slice(cut)}`);
  }),
  fc
    .constantFrom('{"error":{"message":"boom"}}', 'plain words', '{"message":"m"}', '')
    .map((data) => dataBlock(data, 'error')),
  fc
    .constantFrom(
      '{"error":{"message":"x","type":"t","code":null,"param":null}}',
      '{"error":"a string"}',
      '{"error":{"message":"m"}}',
    )
    .map((data) => dataBlock(data)),
  fc.tuple(line, fc.option(fc.constantFrom('x'))).map(([data, name]) => dataBlock(data, name)),
  // A chunk whose fields have the wrong type: a protocol error whatever the event's name.
  fc
    .tuple(misshapenChunkData, fc.option(fc.constantFrom('message', 'delta', 'x'), { freq: 2 }))
    .map(([data, name]): Block => ({ ...dataBlock(data, name), chunk: 'reject' })),
  // Past the bound: some past the 64 KiB read window too (those wedged the reader before).
  fc
    .integer({ min: 2 * MAX_EVENT_BYTES, max: 100 * 1024 })
    .map((size): Block => ({ lines: [`data: ${'x'.repeat(size)}`], event: undefined, oversize: true })),
);

/** A stream: well-behaved blocks with, most of the time, misbehaving ones somewhere among them. */
const stream: fc.Arbitrary<Block[]> = fc
  .tuple(
    fc.array(wellBehaved, { minLength: 1, maxLength: 80, size: 'max' }),
    fc.array(fc.tuple(fc.nat(), misbehaved), { maxLength: 3 }),
  )
  .map(([blocks, faults]) => {
    const out = [...blocks];
    for (const [at, fault] of faults) out.splice(at % (out.length + 1), 0, fault);
    return out;
  });

/** What the reader must give: the events normalized one by one, up to the first that ends the stream. */
function expected(blocks: readonly Block[]): { events: UpstreamEvent[]; end: string } {
  const events: UpstreamEvent[] = [];
  for (const { event, oversize, chunk } of blocks) {
    if (oversize) return { events, end: 'upstream_event_too_large' };
    if (event === undefined) continue;
    const normalized = normalizeChatEvent(event, 'fuzz');
    if (chunk === 'reject') expect(normalized).toBeInstanceOf(UpstreamError);
    if (chunk === 'relay') expect(normalized).toEqual({ data: event.data });
    if (normalized instanceof UpstreamError) return { events, end: 'upstream_protocol_error' };
    if (normalized !== undefined) events.push(normalized);
  }
  return { events, end: 'done' };
}

const isObject = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);
const isStringOrNull = (value: unknown) => value == null || typeof value === 'string';

/**
 * Every event is unnamed and `[DONE]`, an OpenAI-shaped error, or a chunk whose fields the SDKs
 * and the translators read have OpenAI's types.
 */
function expectChatFormat(event: UpstreamEvent): void {
  expect(event.event).toBeUndefined();
  if (event.data === '[DONE]') return;
  const parsed = JSON.parse(event.data);
  expect(isObject(parsed)).toBe(true);
  if (parsed.error !== undefined && parsed.error !== null) {
    expect(typeof parsed.error.message).toBe('string');
    expect(typeof parsed.error.type).toBe('string');
    return;
  }
  expect(Array.isArray(parsed.choices)).toBe(true);
  expect(parsed.usage == null || isObject(parsed.usage)).toBe(true);
  for (const choice of parsed.choices) {
    expect(isObject(choice)).toBe(true);
    expect(choice.index === undefined || Number.isInteger(choice.index)).toBe(true);
    expect(isStringOrNull(choice.finish_reason)).toBe(true);
    if (choice.delta == null) continue;
    expect(isObject(choice.delta)).toBe(true);
    expect(isStringOrNull(choice.delta.content) && isStringOrNull(choice.delta.refusal)).toBe(true);
    for (const call of choice.delta.tool_calls ?? []) {
      expect(isObject(call)).toBe(true);
      expect(call.index === undefined || Number.isInteger(call.index)).toBe(true);
      expect(isStringOrNull(call.id)).toBe(true);
      if (call.function == null) continue;
      expect(isObject(call.function)).toBe(true);
      expect(isStringOrNull(call.function.name) && isStringOrNull(call.function.arguments)).toBe(true);
    }
  }
}

/**
 * Reads `chunks` through the chat upstream reader with a consumer that waits `delays` ticks between
 * pulls. Fails on a deadlock: the consumer waits for an event while the socket is paused.
 */
async function read(
  chunks: readonly Buffer[],
  delays: readonly number[],
): Promise<{ events: UpstreamEvent[]; end: string; controller: ScriptedController; returned: boolean }> {
  const upstream = await openScriptedSse(MAX_EVENT_BYTES);
  const { controller } = upstream;
  const iterator = normalizeChatEvents(upstream.events, 'fuzz');
  let waiting = false;
  let deadlocked = false;
  const produce = async () => {
    deadlocked = !(await upstream.push(chunks, () => waiting));
  };
  const events: UpstreamEvent[] = [];
  let end = 'done';
  let returned = false;
  const consume = async () => {
    for (let pull = 0; ; pull++) {
      waiting = true;
      let result: IteratorResult<UpstreamEvent>;
      try {
        result = await iterator.next();
      } catch (error) {
        end = error instanceof UpstreamError ? String(error.code) : String(error);
        // As the relay does: stop reading, releasing the upstream.
        await iterator.return?.();
        returned = true;
        return;
      } finally {
        waiting = false;
      }
      if (result.done) return;
      events.push(result.value);
      if (pull % 3 === 0) events.push(...iterator.takeBuffered());
      for (let wait = delays[pull % Math.max(1, delays.length)] ?? 0; wait > 0; wait--) await tick();
    }
  };
  const consuming = consume();
  await produce();
  // Once the producer is done, a consumer that waits for an event must get one (or the end)
  // within a few turns: never a hang. (Turns it spends falling behind on purpose do not count.)
  let finished = false;
  void consuming.then(() => {
    finished = true;
  });
  for (let waitedTurns = 0; waitedTurns < 50 && !finished && !deadlocked; ) {
    await tick();
    waitedTurns = waiting ? waitedTurns + 1 : 0;
  }
  expect(deadlocked, 'the consumer waited on a paused socket').toBe(false);
  expect(finished, 'the consumer never got an end').toBe(true);
  return { events, end, controller, returned };
}

describe('the chat upstream reader', () => {
  it('never hangs, never relays a malformed chunk, and gives what reading the whole stream would', async () => {
    await fc.assert(
      fc.asyncProperty(
        stream,
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.array(fc.nat(30), { maxLength: 10 }),
        async (blocks, eol, cuts, delays) => {
          const body = Buffer.from(
            blocks.map((item) => `${item.lines.join(eol)}${eol}${eol}`).join(''),
            'utf8',
          );
          const result = await read(split(body, cuts), delays);
          for (const event of result.events) expectChatFormat(event);
          const want = expected(blocks);
          expect(result.end).toBe(want.end);
          expect(result.events).toEqual(want.events);
          // An event past the bound closes the connection; a protocol error stops reading it.
          if (want.end === 'upstream_event_too_large') expect(result.controller.aborted).toBe(true);
          if (want.end === 'upstream_protocol_error') expect(result.returned).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});

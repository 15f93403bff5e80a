import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseSse } from '../../test/helpers.js';
import {
  expectClientStream,
  expectedStream,
  MAX_EVENT_BYTES,
  type NativeSurface,
  nativeStream,
  streamBytes,
} from '../../test/native-streams.js';
import { openScriptedSse, split, tick } from '../../test/scripted-dispatcher.js';
import { type BufferedEventSource, takeBuffered, type UpstreamEvent } from '../providers/provider.js';
import { StreamRelay } from '../relay/stream-relay.js';
import { MemoryStore } from '../spool/memory-store.js';
import { MessagesEvents } from './messages/messages-events.js';
import { nativeMessagesEvents } from './messages/native-events.js';
import { nativeResponsesEvents } from './responses/native-events.js';
import { RESPONSES_EVENTS } from './responses/responses-events.js';
import { readSpooled } from './responses/spooled-events.js';

/**
 * The native upstream readers of the pass-through surfaces (requestSse, the SSE parser, the
 * surface's native event reader, the relay with the surface's event policy) driven as undici drives
 * them — pushed chunk by chunk, paused and resumed — against streams of valid events, unknown event
 * types, data that is not JSON or not the surface's shape, events with no `event:` line, pings and
 * comments, events past the bound, streams without a terminal event, cut at random bytes, read by a
 * consumer that falls behind at random. The relay never hangs nor throws, and the client gets the
 * surface's shape with Spool's numbering and exactly one terminal event.
 */

const log = pino({ level: 'silent' });
const RESPONSE_ID = 'resp_spool0123456789abcdef';

/** The reader as the relay pulls it, falling behind by `delays` turns; says when it waits for the upstream. */
class SlowReader implements AsyncIterableIterator<UpstreamEvent>, BufferedEventSource {
  waiting = false;
  #pulls = 0;
  constructor(
    private readonly source: AsyncIterator<UpstreamEvent>,
    private readonly delays: readonly number[],
  ) {}
  [Symbol.asyncIterator](): this {
    return this;
  }
  async next(): Promise<IteratorResult<UpstreamEvent>> {
    for (let wait = this.delays[this.#pulls++ % Math.max(1, this.delays.length)] ?? 0; wait > 0; wait--)
      await tick();
    this.waiting = true;
    try {
      return await this.source.next();
    } finally {
      this.waiting = false;
    }
  }
  takeBuffered(): readonly UpstreamEvent[] {
    return takeBuffered(this.source);
  }
  async return(): Promise<IteratorResult<UpstreamEvent>> {
    return (await this.source.return?.()) ?? { done: true, value: undefined };
  }
}

async function relayNative(surface: NativeSurface, chunks: readonly Buffer[], delays: readonly number[]) {
  const upstream = await openScriptedSse(MAX_EVENT_BYTES);
  const source = { [Symbol.asyncIterator]: () => upstream.events };
  const reader = new SlowReader(
    surface === 'responses'
      ? nativeResponsesEvents(source, RESPONSE_ID, 'fuzz')
      : nativeMessagesEvents(source, 'fuzz'),
    delays,
  );
  const store = new MemoryStore({ retentionMs: 60_000, maxStreamBytes: 10_000_000, sweepIntervalMs: 0 });
  const relay = new StreamRelay(store, { disconnectGraceMs: null }, log);
  const id = `str_${surface}`;
  await relay.start({
    meta: { id, ownerId: 'key', model: 'm', createdAt: Date.now(), state: 'pending', surface },
    events: surface === 'responses' ? RESPONSES_EVENTS : new MessagesEvents(),
    open: async () => reader,
  });
  const pushed = await upstream.push(chunks, () => reader.waiting);
  expect(pushed, 'the relay waited on a paused socket').toBe(true);
  // Once the upstream is done, a relay that waits for an event must get one (or the end) within a
  // few turns: never a hang. (Turns it spends falling behind on purpose do not count.)
  for (let waitedTurns = 0; waitedTurns < 50 && relay.isLocal(id); ) {
    await tick();
    waitedTurns = reader.waiting ? waitedTurns + 1 : 0;
  }
  expect(relay.isLocal(id), 'the relay never got an end').toBe(false);
  const events = parseSse(await readSpooled(store, id, { untilEnd: true }));
  const meta = await store.getMeta(id);
  return { events, meta, controller: upstream.controller };
}

describe.each<NativeSurface>(['responses', 'messages'])('the native %s upstream reader', (surface) => {
  it('never hangs, relays every well-formed event in the surface’s shape with Spool’s numbering, and ends with exactly one terminal event', async () => {
    await fc.assert(
      fc.asyncProperty(
        nativeStream(surface),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.option(fc.nat(), { freq: 3 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.nat(20), { maxLength: 8 }),
        async (blocks, eol, cut, cuts, delays) => {
          const { body, received } = streamBytes(blocks, eol, cut);
          const want = expectedStream(surface, received);
          const { events, meta, controller } = await relayNative(surface, split(body, cuts), delays);
          expectClientStream(surface, events, want, RESPONSE_ID);
          const failed =
            want.ending.kind === 'error' ||
            events.at(-1)?.event === 'response.failed' ||
            events.at(-1)?.event === 'error';
          expect(typeof meta === 'object' && meta.state).toBe(failed ? 'error' : 'done');
          // An event past the bound closes the upstream connection.
          if (want.ending.kind === 'error' && want.ending.code === 'upstream_event_too_large')
            expect(controller.aborted).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});

import fc from 'fast-check';
import { expect } from 'vitest';
import type { ParsedEvent } from './helpers.js';

/**
 * Streams a native upstream may send on the pass-through surfaces (Responses from an `openai`
 * upstream, Messages from an `anthropic` one), each block labelled with what the client must see of
 * it, and the checks of what the client got: the surface's shape, Spool's numbering, exactly one
 * terminal event, the upstream's events as they came. Shared by the unit-level property tests
 * (src/surfaces/native-readers.property.test.ts) and the real-socket ones.
 */

/** A pass-through surface. */
export type NativeSurface = 'responses' | 'messages';

/** The Response id the fuzzed upstream uses; models echo it in their text too. */
const UPSTREAM_RESPONSE_ID = 'resp_upstream42';

/** The event bound the tests configure (generation.maxEventBytes). */
export const MAX_EVENT_BYTES = 8 * 1024;

type Payload = Record<string, unknown>;

/** One block of an upstream's stream and what it must become. */
export interface NativeBlock {
  lines: string[];
  /**
   * `relayed`: the client gets it; `dropped`: it carries nothing (comments, pings, `[DONE]` …);
   * `malformed`: ends the stream with upstream_protocol_error; `oversize`: past the event bound.
   */
  kind: 'relayed' | 'dropped' | 'malformed' | 'oversize';
  /** A relayed event's data as the client must read it, given Spool's Response id. */
  expected?: (responseId: string) => Payload;
  /** A relayed event's data as the upstream sent it. */
  raw?: string;
  /** The surface's terminal event (the relay stops reading after it). */
  terminal?: boolean;
  /** A Messages `message_delta` with a stop reason (a stream cut after it is complete). */
  finish?: boolean;
}

/** Text a model writes, echoed ids and JSON-looking pieces included. */
const text = fc.string({
  unit: fc.constantFrom(
    'a',
    ' ',
    'é',
    '🌍',
    '"',
    '\\',
    '\n',
    '}',
    UPSTREAM_RESPONSE_ID,
    '"id":"',
    '"sequence_number":1',
  ),
  maxLength: 12,
});
const word = fc.stringMatching(/^[a-z]{1,8}$/);
/** A line with no line break, not JSON (starts with a letter JSON never starts with). */
const garbage = fc.string({ maxLength: 30 }).map((value) => `x${value.replace(/[\r\n]/g, '')}`);

function dataLines(data: string): string[] {
  return data.split('\n').map((part) => `data: ${part}`);
}

/** How an event is written: its `event:` line (its type, none, another name) and its JSON layout. */
const layout = fc.record({
  name: fc.constantFrom('same', 'same', 'same', 'none', 'other'),
  pretty: fc.boolean(),
});

function relayedBlock(
  upstream: Payload,
  expected: (responseId: string) => Payload,
  { name, pretty }: { name: string; pretty: boolean },
  extra: Partial<NativeBlock> = {},
): NativeBlock {
  const raw = pretty ? JSON.stringify(upstream, null, 1) : JSON.stringify(upstream);
  const type = upstream.type as string;
  const nameLines = name === 'same' ? [`event: ${type}`] : name === 'other' ? ['event: x-other'] : [];
  return { lines: [...nameLines, ...dataLines(raw)], kind: 'relayed', expected, raw, ...extra };
}

// Responses.

const response = (id: string, status: string) => ({
  id,
  object: 'response',
  status,
  output: [],
  model: 'gpt-x',
});
const message = (content: string) => ({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  status: 'completed',
  content: [{ type: 'output_text', text: content, annotations: [] }],
});

/** Where an upstream puts its own `sequence_number` (the spool sets Spool's). */
const sequenceMode = fc.constantFrom('none', 'last', 'last', 'first', 'string', 'nested');

/** A Responses event from a payload builder (given a Response id), with the upstream's sequence number. */
function responsesBlock(
  make: (responseId: string) => Payload,
  [mode, number, style]: [string, number, { name: string; pretty: boolean }],
  extra: Partial<NativeBlock> = {},
): NativeBlock {
  const placed = (payload: Payload): Payload => {
    if (mode === 'last') return { ...payload, sequence_number: number };
    if (mode === 'first') return { sequence_number: number, ...payload };
    if (mode === 'string') return { ...payload, sequence_number: String(number) };
    if (mode === 'nested') return { ...payload, extra: { sequence_number: number } };
    return payload;
  };
  const expected = (responseId: string) => {
    const payload = make(responseId);
    return mode === 'nested' ? { ...payload, extra: { sequence_number: number } } : payload;
  };
  return relayedBlock(placed(make(UPSTREAM_RESPONSE_ID)), expected, style, extra);
}

const responsesStyle = fc.tuple(sequenceMode, fc.nat(1000), layout);

const responsesEvent: fc.Arbitrary<NativeBlock> = fc.oneof(
  fc
    .tuple(fc.constantFrom('response.created', 'response.in_progress', 'response.queued'), responsesStyle)
    .map(([type, style]) => responsesBlock((id) => ({ type, response: response(id, 'in_progress') }), style)),
  fc
    .tuple(
      fc.constantFrom('response.output_item.added', 'response.output_item.done'),
      fc.nat(3),
      text,
      responsesStyle,
    )
    .map(([type, index, content, style]) =>
      responsesBlock(() => ({ type, output_index: index, item: message(content) }), style),
    ),
  fc.tuple(fc.nat(3), responsesStyle).map(([index, style]) =>
    responsesBlock(
      () => ({
        type: 'response.content_part.added',
        item_id: 'msg_1',
        output_index: index,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [] },
      }),
      style,
    ),
  ),
  {
    arbitrary: fc.tuple(text, responsesStyle).map(([delta, style]) =>
      responsesBlock(
        () => ({
          type: 'response.output_text.delta',
          item_id: 'msg_1',
          output_index: 0,
          content_index: 0,
          delta,
        }),
        style,
      ),
    ),
    weight: 4,
  },
  fc.tuple(text, responsesStyle).map(([whole, style]) =>
    responsesBlock(
      () => ({
        type: 'response.output_text.done',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        text: whole,
      }),
      style,
    ),
  ),
  fc
    .tuple(text, responsesStyle)
    .map(([delta, style]) =>
      responsesBlock(
        () => ({ type: 'response.function_call_arguments.delta', item_id: 'fc_1', output_index: 1, delta }),
        style,
      ),
    ),
  // Event types Spool does not know pass untouched.
  fc
    .tuple(word, text, responsesStyle)
    .map(([name, note, style]) =>
      responsesBlock(
        () => ({ type: `response.future_${name}`, detail: { note, list: [1, { a: null }] } }),
        style,
      ),
    ),
  responsesStyle.map((style) => responsesBlock(() => ({ type: 'keepalive' }), style)),
);

const responsesTerminal: fc.Arbitrary<NativeBlock> = fc.oneof(
  fc.tuple(fc.constantFrom('completed', 'incomplete', 'failed'), responsesStyle).map(([status, style]) =>
    responsesBlock(
      (id) => ({
        type: `response.${status}`,
        response: { ...response(id, status), usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 } },
      }),
      style,
      { terminal: true },
    ),
  ),
  fc.tuple(text, responsesStyle).map(([note, style]) =>
    responsesBlock(() => ({ type: 'error', code: 'server_error', message: note, param: null }), style, {
      terminal: true,
    }),
  ),
);

/** Known Responses events of the wrong shape: a field the SDKs read missing, or of another kind. */
const responsesMisshapen: readonly Payload[] = [
  { type: 'response.output_text.delta', output_index: 0, content_index: 0 },
  { type: 'response.output_text.delta', output_index: 0, content_index: 0, delta: 5 },
  { type: 'response.output_text.delta', output_index: '0', content_index: 0, delta: 'x' },
  { type: 'response.completed', response: 5 },
  { type: 'response.created', response: [] },
  { type: 'response.output_item.added', output_index: 0, item: 'an item' },
  { type: 'error', message: { text: 'x' } },
];

// Messages.

/** A Messages stream's first event, as Anthropic sends it. */
export const MESSAGE_START: Payload = {
  type: 'message_start',
  message: {
    id: 'msg_up',
    type: 'message',
    role: 'assistant',
    model: 'claude-up',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 3, output_tokens: 1 },
  },
};

const messagesStyle = layout;

function messagesBlock(
  payload: Payload,
  style: { name: string; pretty: boolean },
  extra: Partial<NativeBlock> = {},
) {
  return relayedBlock(payload, () => payload, style, extra);
}

const messagesEvent: fc.Arbitrary<NativeBlock> = fc.oneof(
  messagesStyle.map((style) => messagesBlock(MESSAGE_START, style)),
  messagesStyle.map((style) => messagesBlock({ type: 'ping' }, style)),
  fc
    .tuple(fc.nat(3), messagesStyle)
    .map(([index, style]) =>
      messagesBlock({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }, style),
    ),
  {
    arbitrary: fc
      .tuple(fc.nat(3), text, messagesStyle)
      .map(([index, delta, style]) =>
        messagesBlock(
          { type: 'content_block_delta', index, delta: { type: 'text_delta', text: delta } },
          style,
        ),
      ),
    weight: 4,
  },
  fc
    .tuple(fc.nat(3), messagesStyle)
    .map(([index, style]) => messagesBlock({ type: 'content_block_stop', index }, style)),
  fc
    .tuple(fc.option(fc.constantFrom('end_turn', 'max_tokens', 'tool_use')), messagesStyle)
    .map(([reason, style]) =>
      messagesBlock(
        {
          type: 'message_delta',
          delta: { stop_reason: reason, stop_sequence: null },
          usage: { output_tokens: 7 },
        },
        style,
        { finish: reason !== null },
      ),
    ),
  fc
    .tuple(word, text, messagesStyle)
    .map(([name, note, style]) => messagesBlock({ type: `future_${name}`, detail: { note } }, style)),
);

const messagesTerminal: fc.Arbitrary<NativeBlock> = fc.oneof(
  messagesStyle.map((style) => messagesBlock({ type: 'message_stop' }, style, { terminal: true })),
  fc.tuple(text, messagesStyle).map(([note, style]) =>
    messagesBlock({ type: 'error', error: { type: 'overloaded_error', message: note } }, style, {
      terminal: true,
    }),
  ),
);

const messagesMisshapen: readonly Payload[] = [
  { type: 'content_block_delta', index: 0, delta: 5 },
  { type: 'content_block_delta', delta: { type: 'text_delta', text: 'x' } },
  { type: 'message_start', message: 'a message' },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' } },
  { type: 'content_block_stop', index: 0.5 },
  { type: 'error', error: 'boom' },
];

// Both surfaces.

const dropped: fc.Arbitrary<NativeBlock> = fc.oneof(
  garbage.map((comment): NativeBlock => ({ lines: [`:${comment}`], kind: 'dropped' })),
  fc
    .constantFrom('retry: 10', 'id: 3', 'event: lonely', 'foo: bar')
    .map((field): NativeBlock => ({ lines: [field], kind: 'dropped' })),
  garbage.map((data): NativeBlock => ({ lines: ['event: ping', `data: ${data}`], kind: 'dropped' })),
  fc.constant<NativeBlock>({ lines: ['data: [DONE]'], kind: 'dropped' }),
  fc.constant<NativeBlock>({ lines: ['data:'], kind: 'dropped' }),
);

function malformed(surface: NativeSurface): fc.Arbitrary<NativeBlock> {
  const misshapen = surface === 'responses' ? responsesMisshapen : messagesMisshapen;
  const block = (data: string, name?: string): NativeBlock => ({
    lines: [...(name ? [`event: ${name}`] : []), ...dataLines(data)],
    kind: 'malformed',
  });
  const typeName = surface === 'responses' ? 'response.output_text.delta' : 'content_block_delta';
  return fc.oneof(
    fc.tuple(garbage, fc.boolean()).map(([data, named]) => block(data, named ? typeName : undefined)),
    fc.constantFrom('5', '[1,2]', '"a string"', 'null', 'true').map((data) => block(data, typeName)),
    fc.constantFrom('{"delta":"x"}', '{"type":5}', '{"type":""}', '{"type":null}').map((data) => block(data)),
    fc
      .tuple(fc.constantFrom(...misshapen), fc.boolean())
      .map(([payload, named]) =>
        block(JSON.stringify(payload), named ? (payload.type as string) : undefined),
      ),
  );
}

const oversize: fc.Arbitrary<NativeBlock> = fc
  .integer({ min: 2 * MAX_EVENT_BYTES, max: 100 * 1024 })
  .map(
    (size): NativeBlock => ({ lines: [`data: {"type":"big","x":"${'x'.repeat(size)}"}`], kind: 'oversize' }),
  );

/**
 * A stream a native upstream may send: well-formed events and blocks that carry nothing, most of the
 * time a terminal event (sometimes with more after it), and now and then malformed or oversize
 * blocks anywhere among them.
 */
export function nativeStream(surface: NativeSurface): fc.Arbitrary<NativeBlock[]> {
  const event = surface === 'responses' ? responsesEvent : messagesEvent;
  const terminal = surface === 'responses' ? responsesTerminal : messagesTerminal;
  const body = fc.array(fc.oneof({ arbitrary: event, weight: 5 }, { arbitrary: dropped, weight: 1 }), {
    maxLength: 40,
  });
  const fault = fc.oneof({ arbitrary: malformed(surface), weight: 4 }, { arbitrary: oversize, weight: 1 });
  return fc
    .tuple(
      body,
      fc.option(terminal, { freq: 4 }),
      fc.array(fc.oneof(event, terminal), { maxLength: 3 }),
      fc.array(fc.tuple(fc.nat(), fault), { maxLength: 2 }),
    )
    .map(([blocks, end, after, faults]) => {
      const out = [...blocks];
      for (const [at, block] of faults) out.splice(at % (out.length + 1), 0, block);
      return end === null ? out : [...out, end, ...after];
    });
}

/** The well-formed events a stream starts with in the real-socket tests: read-ahead ends on the last. */
export function openingBlocks(surface: NativeSurface): NativeBlock[] {
  const style = { name: 'same', pretty: false };
  if (surface === 'responses')
    return [
      responsesBlock(
        (id) => ({ type: 'response.created', response: response(id, 'in_progress') }),
        ['last', 0, style],
      ),
      responsesBlock(
        () => ({ type: 'response.output_item.added', output_index: 0, item: message('') }),
        ['last', 1, style],
      ),
    ];
  return [
    messagesBlock(
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      style,
    ),
    messagesBlock(
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } },
      style,
    ),
  ];
}

/** A stream's bytes, and the blocks that arrive whole when it is cut at `cut` (never inside an oversize block). */
export function streamBytes(
  blocks: readonly NativeBlock[],
  eol: string,
  cut: number | null,
): { body: Buffer; received: NativeBlock[] } {
  const pieces = blocks.map((block) => Buffer.from(`${block.lines.join(eol)}${eol}${eol}`, 'utf8'));
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
  let end = cut === null ? total : cut % (total + 1);
  let offset = 0;
  const received: NativeBlock[] = [];
  blocks.forEach((block, index) => {
    const size = (pieces[index] as Buffer).length;
    if (block.kind === 'oversize' && end > offset && end < offset + size) end = offset;
    // A CR alone ends a line: a CRLF block cut before its last LF has arrived whole.
    if (offset + size - (eol === '\r\n' ? 1 : 0) <= end) received.push(block);
    offset += size;
  });
  return { body: Buffer.concat(pieces).subarray(0, end), received };
}

/** How the client's stream must end. */
export type NativeEnding =
  | { kind: 'upstream' }
  | { kind: 'completion' }
  | { kind: 'error'; code: 'upstream_protocol_error' | 'upstream_event_too_large' | 'upstream_error' };

/** What the client must get from the blocks that arrived: the events relayed, and how it ends. */
export function expectedStream(
  surface: NativeSurface,
  received: readonly NativeBlock[],
): { relayed: NativeBlock[]; ending: NativeEnding } {
  const relayed: NativeBlock[] = [];
  let finished = false;
  for (const block of received) {
    if (block.kind === 'dropped') continue;
    if (block.kind === 'malformed')
      return { relayed, ending: { kind: 'error', code: 'upstream_protocol_error' } };
    if (block.kind === 'oversize')
      return { relayed, ending: { kind: 'error', code: 'upstream_event_too_large' } };
    relayed.push(block);
    if (block.terminal) return { relayed, ending: { kind: 'upstream' } };
    finished ||= block.finish === true;
  }
  // A Messages stream that stopped after its stop reason lost only its message_stop.
  if (surface === 'messages' && finished) return { relayed, ending: { kind: 'completion' } };
  return { relayed, ending: { kind: 'error', code: 'upstream_error' } };
}

const RESPONSES_TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed', 'error']);
const MESSAGES_TERMINAL = new Set(['message_stop', 'error']);

/**
 * Checks what a client got: every event in its surface's shape, named by its type, numbered as
 * Spool numbers it (Responses: `id:` = `sequence_number`, from 0; Messages: `id:` from 1), exactly
 * one terminal event and it last; the upstream's events as they came (Responses: but for Spool's
 * Response id in its id fields and Spool's sequence numbers; Messages: byte for byte), then the
 * expected ending.
 */
export function expectClientStream(
  surface: NativeSurface,
  events: readonly ParsedEvent[],
  want: { relayed: readonly NativeBlock[]; ending: NativeEnding },
  responseId: string,
): void {
  const terminal = surface === 'responses' ? RESPONSES_TERMINAL : MESSAGES_TERMINAL;
  const payloads = events.map((event, index) => {
    const payload = JSON.parse(event.data) as Payload;
    expect(typeof payload).toBe('object');
    expect(typeof payload.type).toBe('string');
    expect(event.event).toBe(payload.type);
    if (surface === 'responses') {
      expect(event.id).toBe(String(index));
      expect(payload.sequence_number).toBe(index);
    } else expect(event.id).toBe(String(index + 1));
    return payload;
  });
  expect(payloads.filter((payload) => terminal.has(payload.type as string))).toHaveLength(1);
  expect(terminal.has(payloads.at(-1)?.type as string)).toBe(true);
  want.relayed.forEach((block, index) => {
    const event = events[index];
    if (surface === 'messages') expect(event?.data).toBe(block.raw);
    else expect(payloads[index]).toEqual({ ...block.expected?.(responseId), sequence_number: index });
  });
  const { ending } = want;
  if (ending.kind === 'upstream') {
    expect(events).toHaveLength(want.relayed.length);
    return;
  }
  expect(events).toHaveLength(want.relayed.length + 1);
  const last = payloads.at(-1) as Payload;
  if (ending.kind === 'completion') {
    expect(events.at(-1)).toMatchObject({ event: 'message_stop', data: '{"type":"message_stop"}' });
    return;
  }
  expect(last.type).toBe('error');
  if (surface === 'responses') {
    expect(last).toMatchObject({ code: ending.code, error: { code: ending.code, type: expect.any(String) } });
    expect(typeof last.message).toBe('string');
  } else {
    expect(last).toEqual({
      type: 'error',
      error: { type: 'api_error', message: expect.stringContaining(`code: ${ending.code}`) },
    });
  }
}

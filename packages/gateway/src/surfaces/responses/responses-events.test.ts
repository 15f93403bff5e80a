import { describe, expect, it } from 'vitest';
import { RESPONSES_EVENTS, withSequenceNumber } from './responses-events.js';
import { RESPONSES_SURFACE } from './responses-surface.js';

describe('Responses event encoding', () => {
  it('replaces an upstream sequence_number, appends a missing one, and leaves every other byte alone', () => {
    expect(withSequenceNumber('{"type":"a","x":"\\"sequence_number\\":9","sequence_number": 41}', 3)).toBe(
      '{"type":"a","x":"\\"sequence_number\\":9","sequence_number":3}',
    );
    expect(withSequenceNumber('{"type":"a"}', 0)).toBe('{"type":"a","sequence_number":0}');
    expect(withSequenceNumber('{}', 5)).toBe('{"sequence_number":5}');
  });

  it('writes SSE id = sequence_number = spool id - 1 with the type as event:, and resumes after N at spool id N + 1', () => {
    expect(RESPONSES_EVENTS.encode(1, '{"type":"response.created"}', undefined)).toBe(
      'id: 0\nevent: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n',
    );
    expect(RESPONSES_SURFACE.spoolIdAfter(undefined)).toBe(0);
    expect(RESPONSES_SURFACE.spoolIdAfter(0)).toBe(1);
    expect(RESPONSES_SURFACE.spoolIdAfter(7)).toBe(8);
  });

  it('ends on completed/incomplete (done) and failed/error (error), and reports terminal usage', () => {
    expect(RESPONSES_EVENTS.ending('{}', 'response.completed')).toBe('done');
    expect(RESPONSES_EVENTS.ending('{}', 'response.incomplete')).toBe('done');
    expect(RESPONSES_EVENTS.ending('{}', 'response.failed')).toBe('error');
    expect(RESPONSES_EVENTS.ending('{"type":"error"}', undefined)).toBe('error');
    expect(RESPONSES_EVENTS.ending('{}', 'response.output_text.delta')).toBeUndefined();
    const usages: unknown[] = [];
    RESPONSES_EVENTS.takeUsage(
      '{"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":4}}}',
      'response.completed',
      (usage) => usages.push(usage),
    );
    expect(usages).toEqual([{ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 }]);
  });
});

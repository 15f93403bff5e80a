import { describe, expect, it } from 'vitest';
import { EventIdTracker, parseLastEventId } from './event-id.js';

describe('parseLastEventId', () => {
  it('reads a missing or empty value as the start of the stream', () => {
    expect(parseLastEventId(undefined)).toBe(0);
    expect(parseLastEventId(null)).toBe(0);
    expect(parseLastEventId('  ')).toBe(0);
  });

  it('reads non-negative integers and refuses anything else', () => {
    expect(parseLastEventId('42')).toBe(42);
    expect(parseLastEventId(' 7 ')).toBe(7);
    for (const bad of ['-1', '1.5', 'abc', '1e3', '9999999999999999'])
      expect(parseLastEventId(bad)).toBeNull();
  });
});

describe('EventIdTracker', () => {
  it('drops replayed events at or below the last accepted id and accepts unnumbered ones', () => {
    const tracker = new EventIdTracker(2);
    expect(['1', '2', '3', '3', '4', undefined, '2'].map((id) => tracker.accept(id))).toEqual([
      false,
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
    expect(tracker.lastEventId).toBe(4);
  });
});

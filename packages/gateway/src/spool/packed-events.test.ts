import { describe, expect, it } from 'vitest';
import { PackedEvents } from './packed-events.js';

describe('PackedEvents', () => {
  const events = ['id: 1\ndata: {"a":"é"}\n\n', 'id: 2\ndata: 🚀 two\n\n', 'id: 3\ndata: [DONE]\n\n'];

  it('gives back the events from any index, multi-byte text included', () => {
    const packed = PackedEvents.pack(events);
    expect(packed.count).toBe(3);
    expect(packed.byteLength).toBe(Buffer.byteLength(events.join('')));
    expect(packed.textFrom(0)).toBe(events.join(''));
    expect(packed.textFrom(1)).toBe(events[1] + (events[2] as string));
    expect(packed.textFrom(2)).toBe(events[2]);
    expect(packed.textFrom(3)).toBe('');
  });

  it('packs a stream without events', () => {
    const packed = PackedEvents.pack([]);
    expect(packed.count).toBe(0);
    expect(packed.textFrom(0)).toBe('');
  });
});

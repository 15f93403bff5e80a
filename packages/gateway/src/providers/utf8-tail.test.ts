import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { incompleteUtf8TailLength } from './utf8-tail.js';

describe('incompleteUtf8TailLength', () => {
  it('holds back the start of a character cut at the end of a chunk, and nothing else', () => {
    const euro = Buffer.from('€'); // e2 82 ac
    const emoji = Buffer.from('😀'); // f0 9f 98 80
    expect(incompleteUtf8TailLength(Buffer.from('abc'))).toBe(0);
    expect(incompleteUtf8TailLength(euro)).toBe(0);
    expect(incompleteUtf8TailLength(euro.subarray(0, 1))).toBe(1);
    expect(incompleteUtf8TailLength(euro.subarray(0, 2))).toBe(2);
    expect(incompleteUtf8TailLength(emoji.subarray(0, 3))).toBe(3);
    expect(incompleteUtf8TailLength(emoji)).toBe(0);
    expect(incompleteUtf8TailLength(Buffer.from([0x80, 0x80, 0x80]))).toBe(0);
    expect(incompleteUtf8TailLength(Buffer.from([0xff]))).toBe(0);
  });

  it('decodes any split of any bytes the same as decoding them whole', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(40), (bytes, at) => {
        const cut = Math.min(at, bytes.length);
        const first = Buffer.from(bytes.subarray(0, cut));
        const held = incompleteUtf8TailLength(first);
        const rest = Buffer.concat([first.subarray(first.length - held), bytes.subarray(cut)]);
        const text = first.toString('utf8', 0, first.length - held) + rest.toString('utf8');
        expect(text).toBe(Buffer.from(bytes).toString('utf8'));
      }),
    );
  });
});

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ReadableChunks } from './readable-chunks.js';

describe('ReadableChunks', () => {
  it('yields what was written, waits for more, and ends with the stream', async () => {
    const stream = new PassThrough();
    const chunks = new ReadableChunks(stream);
    stream.write('a');
    expect((await chunks.next()).value?.toString()).toBe('a');
    const waiting = chunks.next();
    stream.write('b');
    expect((await waiting).value?.toString()).toBe('b');
    const last = chunks.next();
    stream.end();
    expect(await last).toEqual({ done: true, value: undefined });
    expect(await chunks.next()).toEqual({ done: true, value: undefined });
  });

  it('rejects a waiting read with the error the stream is destroyed with', async () => {
    const stream = new PassThrough();
    const chunks = new ReadableChunks(stream);
    const waiting = chunks.next();
    stream.destroy(new Error('socket reset'));
    await expect(waiting).rejects.toThrow('socket reset');
  });

  it('reports a stream closed before its end as a premature close', async () => {
    const stream = new PassThrough();
    const chunks = new ReadableChunks(stream);
    const waiting = chunks.next();
    stream.destroy();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('leaves the stream open and unwatched when the consumer stops early', async () => {
    const stream = new PassThrough();
    const chunks = new ReadableChunks(stream);
    const waiting = chunks.next();
    expect(await chunks.return()).toEqual({ done: true, value: undefined });
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(stream.destroyed).toBe(false);
    expect(stream.listenerCount('readable') + stream.listenerCount('close')).toBe(0);
  });
});

import type { SpoolStore } from '../../spool/store.js';

const TIMED_OUT = Symbol('timed out');

/**
 * The events of a stream as spooled so far: all of them for an ended stream; for a running one,
 * what the spool hands over at once (waiting up to `waitMs` for a first batch, then only for
 * batches already at hand).
 */
export async function readSpooled(
  store: SpoolStore,
  streamId: string,
  options: { untilEnd: boolean; waitMs?: number },
): Promise<string> {
  const reader = store.read(streamId, 0);
  let text = '';
  try {
    for (;;) {
      const next = reader.next();
      let result: IteratorResult<string> | typeof TIMED_OUT;
      if (options.untilEnd) {
        result = await next;
      } else {
        let timer: NodeJS.Timeout | undefined;
        result = await Promise.race([
          next,
          new Promise<typeof TIMED_OUT>((resolve) => {
            timer = setTimeout(() => resolve(TIMED_OUT), text === '' ? (options.waitMs ?? 100) : 5);
          }),
        ]);
        clearTimeout(timer);
      }
      if (result === TIMED_OUT || result.done) break;
      text += result.value;
    }
  } finally {
    await reader.return?.().catch(() => {});
  }
  return text;
}

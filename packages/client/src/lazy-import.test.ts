import { describe, expect, it } from 'vitest';
import { memoizeImport } from './lazy-import.js';

describe('memoizeImport', () => {
  it('loads once for concurrent and later calls', async () => {
    let loads = 0;
    const load = memoizeImport(async () => ++loads);
    expect(await Promise.all([load(), load()])).toEqual([1, 1]);
    expect(await load()).toBe(1);
    expect(loads).toBe(1);
  });

  it('tries a failed load again on the next call (a chunk requested while offline)', async () => {
    let loads = 0;
    const load = memoizeImport(async () => {
      loads += 1;
      if (loads === 1) throw new TypeError('Failed to fetch dynamically imported module');
      return 'module';
    });
    await expect(load()).rejects.toThrow('Failed to fetch');
    expect(await load()).toBe('module');
  });
});

import { describe, expect, it } from 'vitest';
import { BufferedVerdicts, type VerdictStorage } from './buffered-verdict.js';

function memoryStorage(): VerdictStorage & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

describe('BufferedVerdicts', () => {
  it('remembers an origin until its deadline, then forgets it (memory and storage)', () => {
    let now = 1000;
    const storage = memoryStorage();
    const verdicts = new BufferedVerdicts({ now: () => now, storage });
    expect(verdicts.isBuffered('https://a.example')).toBe(false);
    verdicts.remember('https://a.example', 500);
    expect(verdicts.isBuffered('https://a.example')).toBe(true);
    expect(verdicts.isBuffered('https://b.example')).toBe(false);
    now = 1499;
    expect(verdicts.isBuffered('https://a.example')).toBe(true);
    now = 1500;
    expect(verdicts.isBuffered('https://a.example')).toBe(false);
    expect(storage.items.size).toBe(0);
  });

  it('reads a verdict another page load stored, and survives a storage that throws', () => {
    const storage = memoryStorage();
    new BufferedVerdicts({ now: () => 0, storage }).remember('https://a.example', 1000);
    expect(new BufferedVerdicts({ now: () => 10, storage }).isBuffered('https://a.example')).toBe(true);
    const throwing: VerdictStorage = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('denied');
      },
      removeItem: () => {
        throw new Error('denied');
      },
    };
    const verdicts = new BufferedVerdicts({ now: () => 0, storage: throwing });
    expect(verdicts.isBuffered('https://a.example')).toBe(false);
    verdicts.remember('https://a.example', 1000);
    expect(verdicts.isBuffered('https://a.example')).toBe(true);
  });
});

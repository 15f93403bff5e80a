import { expect, test } from 'vitest';
import * as react from '../src/index.js';

test('the package exports exactly its chosen API: the hook and the store, not its persistence or helpers', () => {
  expect(Object.keys(react).sort()).toEqual(['createChatStore', 'useChat']);
});

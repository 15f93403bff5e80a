import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    conditions: ['@spool/source'],
    alias: {
      // `// @vitest-environment happy-dom-node`: happy-dom's DOM with Node's module transform (see the file).
      'vitest-environment-happy-dom-node': fileURLToPath(
        new URL('./packages/react/test/happy-dom-node.ts', import.meta.url),
      ),
    },
  },
  ssr: { resolve: { conditions: ['@spool/source'] } },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/src/**/*.test.tsx',
      'packages/*/test/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
      'bench/**/*.test.ts',
      'scripts/**/*.test.mjs',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@spool/source'] },
  ssr: { resolve: { conditions: ['@spool/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});

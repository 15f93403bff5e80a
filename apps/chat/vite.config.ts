import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

/** Built into the gateway's static directory, which it serves at `/`. */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  // Workspace packages are compiled from their TypeScript sources: no separate build of @spool/react needed.
  resolve: { conditions: ['@spool/source', ...defaultClientConditions] },
  build: {
    outDir: fileURLToPath(new URL('../../packages/gateway/public', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
});

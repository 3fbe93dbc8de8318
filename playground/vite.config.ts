// The playground as a static page: `vite build --config playground/vite.config.ts` writes
// playground/dist/ (relative URLs, so it can be served from any path).

import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const here = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root: here,
  base: './',
  // The compiler's sources live outside the page's folder.
  server: { fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
  },
  worker: { format: 'es' },
  preview: { host: '127.0.0.1' },
})

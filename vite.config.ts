import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { contentSecurityPolicy } from './scripts/lib/csp';
import { precache } from './scripts/lib/precache';

// Cross-origin isolation (SharedArrayBuffer), so tfjs-wasm runs on threads; a host of the build
// should send the same two headers (docs/performance.md).
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// Relative base so the built app works from any path (and from file caches offline).
export default defineConfig({
  base: './',
  plugins: [react(), precache(), contentSecurityPolicy()],
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  server: { port: 5173, strictPort: false, headers: crossOriginIsolation },
  preview: { port: 4173, headers: crossOriginIsolation },
});

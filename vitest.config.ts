import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    pool: 'forks',
    // tfjs-core alone registers no backend: the tests pick cpu or wasm themselves.
    setupFiles: ['tests/unit/setup.ts'],
  },
});

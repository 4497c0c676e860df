import { defineConfig } from 'vitest/config';

// End-to-end tests drive the built app (dist/) in headless Chromium. One browser at a time on a
// 2-core machine: files run one after another in a single fork, with timeouts for software WebGL.
export default defineConfig({
  test: {
    include: ['tests/e2e/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    sequence: { concurrent: false },
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
});

import { defineConfig } from 'vitest/config';

// MLX-heavy test files share two cores; run files one at a time so timings and memory
// stay predictable. Long suites (npm run test:long) are selected by ANNEAL_LONG.
export default defineConfig({
  test: {
    include: ['{apps,packages,native,bench}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/.next/**', '**/.venv/**'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

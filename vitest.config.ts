import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql ships ESM and CJS builds; dependencies load it both ways, and two copies cannot
  // share a schema ("from another module or realm"). Pin everything to one.
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    globalSetup: ['test/setup/global-postgres.ts'],
    include: ['test/**/*.test.ts'],
    // Files run in parallel (2 workers on a 2-core machine); each gets its own database.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { LOG_LEVEL: 'silent' },
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests import every @ferry/* package from its TypeScript source, never a stale dist/.
  resolve: { conditions: ['ferry-source'] },
  ssr: { resolve: { conditions: ['ferry-source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    root: new URL('..', import.meta.url).pathname,
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The JSON report lets .ci/run print one plain "N passed, N failed" line at the end.
    reporters: ['default', 'json'],
    outputFile: { json: 'test/.results/vitest.json' },
    pool: 'forks',
    maxWorkers: 2,
  },
});

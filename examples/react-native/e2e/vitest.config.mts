import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The web build's end-to-end test. It needs the exported web build (scripts/check.sh makes
// it), so it has its own config instead of living under the root suite's include pattern.
// Run from the repository root: pnpm exec vitest run --config examples/react-native/e2e/vitest.config.mts
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  resolve: { conditions: ['@nearby/source'] },
  ssr: { resolve: { conditions: ['@nearby/source'] } },
  test: {
    include: ['*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

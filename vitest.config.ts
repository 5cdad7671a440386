import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@nearby/source'] },
  ssr: { resolve: { conditions: ['@nearby/source'] } },
  test: {
    include: ['packages/*/src/**/*.test.{ts,tsx}', 'examples/*/src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});

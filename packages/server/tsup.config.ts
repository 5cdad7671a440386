import { defineConfig } from 'tsup';

export default defineConfig({
  // One entry per subpath export: the core, and each family of adapters with optional peers.
  entry: {
    index: 'src/index.ts',
    redis: 'src/adapters/redis/index.ts',
    postgres: 'src/adapters/postgres/index.ts',
    pglite: 'src/adapters/pglite/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  treeshake: true,
  external: ['ioredis', 'pg', '@electric-sql/pglite'],
});

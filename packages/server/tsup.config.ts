import { defineConfig } from 'tsup';

const external = ['ioredis', 'pg', '@electric-sql/pglite', 'etcd3', 'vitest', 'prom-client'];

export default defineConfig([
  {
    // One entry per subpath export: the server, the engine, and each family of adapters with optional peers, the Prometheus metrics.
    entry: {
      index: 'src/index.ts',
      engine: 'src/core/index.ts',
      testing: 'src/testing/index.ts',
      redis: 'src/adapters/redis/index.ts',
      postgres: 'src/adapters/postgres/index.ts',
      pglite: 'src/adapters/pglite/index.ts',
      etcd: 'src/adapters/etcd/index.ts',
      metrics: 'src/metrics/index.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'es2022',
    treeshake: true,
    external,
  },
  {
    // The `nearby-nodes` command: an ES module run by Node, no types.
    entry: { 'nearby-nodes': 'src/adapters/etcd/cli.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'es2022',
    external,
  },
]);

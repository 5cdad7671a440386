import { defineConfig } from 'tsup';

export default defineConfig({
  // `node` is the main entry plus the `ws` fallback; both share one chunk, so there is one
  // NearbyClient class whichever entry loads it.
  entry: ['src/index.ts', 'src/node.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  splitting: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  treeshake: true,
});

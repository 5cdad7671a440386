import { defineConfig } from 'tsup';

export default defineConfig({
  // `react` is its own entry so the main one never loads React; `node` and `react-node` add the
  // `ws` fallback for Node. Code shared by the entries (the client itself) goes into shared
  // chunks, so an app importing several of them gets one NearbyClient class.
  entry: {
    index: 'src/index.ts',
    node: 'src/node.ts',
    react: 'src/react/index.ts',
    'react-node': 'src/react/node.ts',
  },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts', react: 'src/react/index.ts' } },
  splitting: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  treeshake: true,
});

import { defineConfig } from 'tsup';

export default defineConfig({
  // `react` is its own entry so the main one never loads React. Code shared by the two entries
  // (the client itself) goes into a shared chunk, so an app importing both gets one copy.
  entry: { index: 'src/index.ts', react: 'src/react/index.ts' },
  format: ['esm', 'cjs'],
  splitting: true,
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  treeshake: true,
});

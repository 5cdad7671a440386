// Bundle-size budget of what an app ships, measured on the built packages (`pnpm build` first,
// then `pnpm size`): the whole entry, bundled by esbuild the way a React Native or browser
// bundler resolves it (the `react-native` / `browser` fields and conditions), minified, gzip.
// The whole entry rather than one import, because Metro does not tree-shake.
// The limit sits a little above the size reached, so that growth fails the check and is a choice.

/** @param {import('esbuild').BuildOptions} config */
const asAnApp = (config) => ({
  ...config,
  platform: 'browser',
  format: 'esm',
  target: 'es2020',
  mainFields: ['react-native', 'browser', 'module', 'main'],
  conditions: ['react-native', 'browser'],
});

export default [
  {
    name: '@nearby/client',
    path: 'packages/client/dist/index.js',
    limit: '12.6 kB',
    gzip: true,
    modifyEsbuildConfig: asAnApp,
  },
  {
    // The provider and hooks with the client they wrap; React itself is the app's.
    name: '@nearby/client/react',
    path: 'packages/client/dist/react.js',
    ignore: ['react'],
    limit: '13.5 kB',
    gzip: true,
    modifyEsbuildConfig: asAnApp,
  },
];

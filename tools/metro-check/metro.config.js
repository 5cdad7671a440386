// A React Native app's stock Metro config: @react-native/metro-config's defaults (resolver main
// fields and conditions, Babel transformer with the babel.config.js next to it, polyfills), with
// only what this folder needs on top:
// - it has no react-native package, so nothing runs before the entry (apps run InitializeCore);
// - every module request is written down (then resolved exactly as by default), so check.mjs
//   can tell what the client asked for, including requests Metro leaves to fail at run time.
const { appendFileSync } = require('node:fs');
const { getDefaultConfig, mergeConfig } = require('@react-native/metro-config');

const record = process.env.METRO_CHECK_REQUESTS;

module.exports = mergeConfig(getDefaultConfig(__dirname), {
  serializer: { getModulesRunBeforeMainModule: () => [] },
  resolver: {
    useWatchman: false,
    resolveRequest(context, moduleName, platform) {
      let resolution;
      try {
        resolution = context.resolveRequest(context, moduleName, platform);
      } catch (error) {
        if (record) appendFileSync(record, `${JSON.stringify({ from: context.originModulePath, moduleName, failed: true })}\n`);
        throw error;
      }
      if (record) {
        const path = resolution.type === 'sourceFile' ? resolution.filePath : resolution.type;
        appendFileSync(record, `${JSON.stringify({ from: context.originModulePath, moduleName, path })}\n`);
      }
      return resolution;
    },
  },
});

// What a React Native app's babel.config.js holds: the default preset and nothing else.
module.exports = { presets: ['module:@react-native/babel-preset'] };

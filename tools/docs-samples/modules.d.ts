// Modules of a React Native app that the workspace does not install.

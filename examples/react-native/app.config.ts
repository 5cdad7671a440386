import type { ExpoConfig } from 'expo/config';

const locationReason = 'Nearby shows your friends who are close to you. It shares your location with them while the app is open.';

const config: ExpoConfig = {
  name: 'Nearby',
  slug: 'nearby-example',
  version: '1.0.0',
  orientation: 'portrait',
  userInterfaceStyle: 'automatic',
  ios: {
    bundleIdentifier: 'com.example.nearby',
    infoPlist: {
      // Lets the app reach a development server on the local network over plain ws://.
      // Production servers use wss://, which needs nothing here.
      NSAppTransportSecurity: { NSAllowsLocalNetworking: true },
    },
  },
  android: {
    package: 'com.example.nearby',
  },
  web: {
    bundler: 'metro',
    output: 'single',
  },
  plugins: [
    [
      'expo-location',
      {
        // Writes NSLocationWhenInUseUsageDescription (iOS) and the ACCESS_COARSE_LOCATION /
        // ACCESS_FINE_LOCATION permissions (Android). The app asks for foreground location only.
        locationWhenInUsePermission: locationReason,
        locationAlwaysAndWhenInUsePermission: false,
        locationAlwaysPermission: false,
        motionUsagePermission: false,
      },
    ],
  ],
};

export default config;

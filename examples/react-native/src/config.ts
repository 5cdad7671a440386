import { Platform } from 'react-native';

export interface ServerConfig {
  url: string;
  token: string;
}

/**
 * The default server: a Nearby server on port 8080 of the development machine. The Android
 * emulator reaches the host's loopback interface as 10.0.2.2; the iOS simulator and the web
 * build share the host's network, so 127.0.0.1 works there. A physical device needs the
 * machine's LAN address (set EXPO_PUBLIC_NEARBY_URL).
 */
const DEFAULT_URL = Platform.OS === 'android' ? 'ws://10.0.2.2:8080/nearby' : 'ws://127.0.0.1:8080/nearby';
const DEFAULT_TOKEN = 'you';

/**
 * Server URL and token. EXPO_PUBLIC_* variables are inlined by Metro when the bundle is built
 * (`EXPO_PUBLIC_NEARBY_URL=ws://192.168.1.20:8080/nearby npx expo start`). On the web, `?url=`
 * and `?token=` in the page address take precedence, so one static build can point at any
 * server.
 */
export function serverConfig(): ServerConfig {
  const page = Platform.OS === 'web' ? pageParams() : undefined;
  return {
    url: page?.get('url') ?? nonEmpty(process.env.EXPO_PUBLIC_NEARBY_URL) ?? DEFAULT_URL,
    token: page?.get('token') ?? nonEmpty(process.env.EXPO_PUBLIC_NEARBY_TOKEN) ?? DEFAULT_TOKEN,
  };
}

function pageParams(): URLSearchParams | undefined {
  const search = globalThis.location?.search;
  return typeof search === 'string' ? new URLSearchParams(search) : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

// A tiny app: uses the client for real, so the bundle holds everything a screen would need.
import { NearbyClient, ErrorCode } from '@nearby/client';

const client = new NearbyClient({ url: 'wss://nearby.invalid/ws', getToken: async () => 'token' });
client.subscribe(() => globalThis.console.log(client.getSnapshot().friends.length, ErrorCode.CLOSED));
client.updateLocation({ lat: 37.5665, lon: 126.978 });
globalThis.nearbyClient = client;

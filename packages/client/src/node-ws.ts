import { ErrorCode, NearbyError } from '@nearby/protocol';
import type { WebSocketConstructor } from './websocket.js';

/**
 * The `ws` package's WebSocket, loaded with `load` (Node's `require`, which caches it).
 *
 * @throws NearbyError with code `invalid_argument` when `ws` is not installed.
 */
export function loadWs(load: (id: string) => unknown): WebSocketConstructor {
  try {
    return load('ws') as WebSocketConstructor;
  } catch (cause) {
    throw new NearbyError(
      ErrorCode.INVALID_ARGUMENT,
      'this runtime has no global WebSocket: install ws (npm install ws) or pass options.WebSocket',
      { cause },
    );
  }
}

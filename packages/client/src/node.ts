/**
 * `@nearby/client` in Node: the main entry, plus the optional peer `ws` as the WebSocket when
 * the runtime has no global one (Node < 22). Selected by the `node` export condition; browsers
 * and Metro take the main entry, which never imports `ws` or a Node built-in.
 */
import { createRequire } from 'node:module';
import { loadWs } from './node-ws.js';
import { setWebSocketLoader } from './websocket.js';

export * from './index.js';

// Defined in the CommonJS build only; the ES module build has `import.meta.url`.
declare const __filename: string | undefined;

const require = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
setWebSocketLoader(() => loadWs(require));

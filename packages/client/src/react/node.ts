/**
 * `@nearby/client/react` in Node (server rendering, tests): the React entry plus the main
 * entry's Node setup, so a client created by the provider finds `ws` where the runtime has no
 * global WebSocket. Selected by the `node` export condition; browsers and Metro never load it.
 */
import '../node.js';

export * from './index.js';

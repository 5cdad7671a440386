import { createRequire } from 'node:module';
import WebSocketImpl from 'ws';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { NearbyClient } from './client.js';
import { loadWs } from './node-ws.js';
import { platformWebSocket, setWebSocketLoader, withQueryParam, type WebSocketConstructor } from './websocket.js';

describe('withQueryParam', () => {
  it('adds a query string, or extends an existing one', () => {
    expect(withQueryParam('wss://h/p', 'access_token', 'abc')).toBe('wss://h/p?access_token=abc');
    expect(withQueryParam('wss://h/p?room=1', 'access_token', 'abc')).toBe('wss://h/p?room=1&access_token=abc');
    expect(withQueryParam('wss://h/p?', 't', 'abc')).toBe('wss://h/p?t=abc');
    expect(withQueryParam('wss://h/p?a=1&', 't', 'abc')).toBe('wss://h/p?a=1&t=abc');
  });

  it('URL-encodes the name and the value', () => {
    expect(withQueryParam('ws://h', 'my token', 'a+b/c=d&e f')).toBe('ws://h?my%20token=a%2Bb%2Fc%3Dd%26e%20f');
  });
});

describe('WebSocketConstructor', () => {
  it('accepts the DOM WebSocket and the ws constructor', () => {
    expectTypeOf(WebSocketImpl).toExtend<WebSocketConstructor>();
    expectTypeOf<typeof globalThis.WebSocket>().toExtend<WebSocketConstructor>();
  });
});

describe('the platform WebSocket', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('is the global one, looked up when called, before any registered loader', () => {
    const Global = class {} as unknown as WebSocketConstructor;
    const loader = vi.fn(() => WebSocketImpl as unknown as WebSocketConstructor);
    setWebSocketLoader(loader);
    vi.stubGlobal('WebSocket', Global);
    expect(platformWebSocket()).toBe(Global);
    expect(loader).not.toHaveBeenCalled();
    vi.stubGlobal('WebSocket', undefined);
    expect(platformWebSocket()).toBe(WebSocketImpl);
  });

  it('loads ws through require, and explains what to do when it is missing', () => {
    expect(loadWs(createRequire(import.meta.url))).toBe(WebSocketImpl);
    const missing = () => {
      throw Object.assign(new Error("Cannot find module 'ws'"), { code: 'MODULE_NOT_FOUND' });
    };
    expect(() => loadWs(missing)).toThrowError(
      expect.objectContaining({
        code: 'invalid_argument',
        message: expect.stringMatching(/install ws .*or pass options\.WebSocket/),
        cause: expect.objectContaining({ code: 'MODULE_NOT_FOUND' }),
      }),
    );
  });

  it('missing everywhere, makes the constructor throw invalid_argument', () => {
    setWebSocketLoader(() => loadWs(() => {
      throw new Error('not installed');
    }));
    vi.stubGlobal('WebSocket', undefined);
    expect(() => new NearbyClient({ url: 'ws://h/p' })).toThrowError(/install ws/);
    // The global, once installed, is picked up by the next client.
    vi.stubGlobal('WebSocket', WebSocketImpl);
    expect(() => new NearbyClient({ url: 'ws://h/p' })).not.toThrow();
  });
});

import WebSocketImpl from 'isomorphic-ws';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { withQueryParam, type WebSocketConstructor } from './websocket.js';

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
  it('accepts the DOM WebSocket and the ws / isomorphic-ws constructor', () => {
    expectTypeOf(WebSocketImpl).toExtend<WebSocketConstructor>();
    expectTypeOf<typeof globalThis.WebSocket>().toExtend<WebSocketConstructor>();
  });
});

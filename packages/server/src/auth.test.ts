import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { tokenFromRequest } from './auth.js';

function request(headers: Record<string, string | undefined>, url?: string): IncomingMessage {
  return { headers, url } as unknown as IncomingMessage;
}

describe('tokenFromRequest', () => {
  it('reads a bearer token from the Authorization header', () => {
    expect(tokenFromRequest(request({ authorization: 'Bearer abc.def.ghi' }, '/nearby'))).toBe('abc.def.ghi');
  });

  it.each(['bearer', 'BEARER', 'BeArEr'])('accepts the scheme spelled %s', (scheme) => {
    expect(tokenFromRequest(request({ authorization: `${scheme} tok-1` }, '/nearby'))).toBe('tok-1');
  });

  it('tolerates extra whitespace around the header value and after the scheme', () => {
    expect(tokenFromRequest(request({ authorization: '  Bearer    tok-2  ' }, '/nearby'))).toBe('tok-2');
  });

  it('prefers the header over the query parameter', () => {
    expect(tokenFromRequest(request({ authorization: 'Bearer from-header' }, '/nearby?access_token=from-query'))).toBe(
      'from-header',
    );
  });

  it('reads the access_token query parameter when there is no header', () => {
    expect(tokenFromRequest(request({}, '/nearby?access_token=q-token'))).toBe('q-token');
    expect(tokenFromRequest(request({}, '/nearby?x=1&access_token=q2&y=2'))).toBe('q2');
  });

  it('decodes a percent-encoded query token', () => {
    expect(tokenFromRequest(request({}, '/nearby?access_token=a%2Bb%3Dc'))).toBe('a+b=c');
  });

  it('falls back to the query when the header uses another scheme or has no token', () => {
    expect(tokenFromRequest(request({ authorization: 'Basic dXNlcjpwYXNz' }, '/nearby?access_token=q'))).toBe('q');
    expect(tokenFromRequest(request({ authorization: 'Bearer' }, '/nearby?access_token=q'))).toBe('q');
    expect(tokenFromRequest(request({ authorization: 'Bearer   ' }, '/nearby?access_token=q'))).toBe('q');
    expect(tokenFromRequest(request({ authorization: 'Bearertoken' }, '/nearby?access_token=q'))).toBe('q');
  });

  it('reads a custom query parameter name', () => {
    expect(tokenFromRequest(request({}, '/nearby?token=custom&access_token=default'), 'token')).toBe('custom');
    expect(tokenFromRequest(request({}, '/nearby?access_token=default'), 'token')).toBeNull();
  });

  it('returns null when there is no token anywhere', () => {
    expect(tokenFromRequest(request({}, '/nearby'))).toBeNull();
    expect(tokenFromRequest(request({}, '/nearby?other=1'))).toBeNull();
    expect(tokenFromRequest(request({}))).toBeNull();
    expect(tokenFromRequest(request({ authorization: 'Basic abc' }, '/nearby'))).toBeNull();
  });

  it('returns null for an empty token', () => {
    expect(tokenFromRequest(request({}, '/nearby?access_token='))).toBeNull();
    expect(tokenFromRequest(request({}, '/nearby?access_token'))).toBeNull();
    expect(tokenFromRequest(request({ authorization: 'Bearer ' }, '/nearby?access_token='))).toBeNull();
    expect(tokenFromRequest(request({ authorization: '' }, '/nearby'))).toBeNull();
  });
});

import { ErrorCode } from '@nearby/protocol';
import { describe, expect, it } from 'vitest';
import { closeOutcome } from './close-errors.js';

/** A `ws` error event: the Error it wraps carries Node's `code`. */
const wsEvent = (message: string, code?: string) => ({
  type: 'error',
  message,
  error: Object.assign(new Error(message), code === undefined ? {} : { code }),
});
/** React Native's error event: a `message` from OkHttp (Android) or SocketRocket (iOS). */
const rnEvent = (message: string) => ({ type: 'error', message });

describe('closeOutcome: what the platform said about a failed connection', () => {
  it.each<[string, object, ErrorCode, boolean]>([
    // Node (ws)
    ['ws: refused', wsEvent('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), ErrorCode.CONNECTION_REFUSED, false],
    ['ws: unknown host', wsEvent('getaddrinfo ENOTFOUND nearby-test.invalid', 'ENOTFOUND'), ErrorCode.HOST_NOT_FOUND, false],
    ['ws: DNS unavailable', wsEvent('getaddrinfo EAI_AGAIN api.example.com', 'EAI_AGAIN'), ErrorCode.HOST_NOT_FOUND, false],
    ['ws: 404', wsEvent('Unexpected server response: 404'), ErrorCode.ENDPOINT_NOT_FOUND, true],
    ['ws: 503', wsEvent('Unexpected server response: 503'), ErrorCode.SERVER_UNAVAILABLE, false],
    ['ws: 502', wsEvent('Unexpected server response: 502'), ErrorCode.SERVER_UNAVAILABLE, false],
    ['ws: 403', wsEvent('Unexpected server response: 403'), ErrorCode.CONNECTION_FAILED, false],
    ['ws: self-signed', wsEvent('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), ErrorCode.TLS_FAILED, false],
    ['ws: expired', wsEvent('certificate has expired', 'CERT_HAS_EXPIRED'), ErrorCode.TLS_FAILED, false],
    ['ws: wrong host', wsEvent("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'), ErrorCode.TLS_FAILED, false],
    ['ws: unknown issuer', wsEvent('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), ErrorCode.TLS_FAILED, false],
    ['ws: wss to a plain port', wsEvent('wrong version number', 'ERR_SSL_WRONG_VERSION_NUMBER'), ErrorCode.TLS_FAILED, false],
    // Android (OkHttp)
    ['Android: refused', rnEvent('Failed to connect to /10.0.2.2:8080'), ErrorCode.CONNECTION_REFUSED, false],
    ['Android: refused (errno)', rnEvent('failed to connect to /10.0.2.2 (port 8080): connect failed: ECONNREFUSED (Connection refused)'), ErrorCode.CONNECTION_REFUSED, false],
    ['Android: unknown host', rnEvent('Unable to resolve host "nearby-test.invalid": No address associated with hostname'), ErrorCode.HOST_NOT_FOUND, false],
    ['Android: 404', rnEvent("Expected HTTP 101 response but was '404 Not Found'"), ErrorCode.ENDPOINT_NOT_FOUND, true],
    ['Android: 503', rnEvent("Expected HTTP 101 response but was '503 Service Unavailable'"), ErrorCode.SERVER_UNAVAILABLE, false],
    ['Android: untrusted', rnEvent('java.security.cert.CertPathValidatorException: Trust anchor for certification path not found.'), ErrorCode.TLS_FAILED, false],
    ['Android: handshake', rnEvent('javax.net.ssl.SSLHandshakeException: Chain validation failed'), ErrorCode.TLS_FAILED, false],
    // iOS (SocketRocket)
    ['iOS: refused', rnEvent('Could not connect to the server.'), ErrorCode.CONNECTION_REFUSED, false],
    ['iOS: unknown host', rnEvent('A server with the specified hostname could not be found.'), ErrorCode.HOST_NOT_FOUND, false],
    ['iOS: 404', rnEvent('Received bad response code from server: 404.'), ErrorCode.ENDPOINT_NOT_FOUND, true],
    ['iOS: 503', rnEvent('Received bad response code from server 503.'), ErrorCode.SERVER_UNAVAILABLE, false],
    ['iOS: TLS', rnEvent('An SSL error has occurred and a secure connection to the server cannot be made.'), ErrorCode.TLS_FAILED, false],
    // Unrecognised text: generic, with the text kept in the message.
    ['ws: reset', wsEvent('read ECONNRESET', 'ECONNRESET'), ErrorCode.CONNECTION_FAILED, false],
  ])('%s', (_name, event, code, terminal) => {
    const outcome = closeOutcome(1006, '', event, false, false);
    expect(outcome.error.code).toBe(code);
    expect(outcome.terminal).toBe(terminal);
    expect(outcome.error.cause).toBe(event);
    expect(outcome.error.closeCode).toBe(1006);
    // The platform's own words stay in the message.
    expect(outcome.error.message).toContain((event as { message: string }).message);
  });

  it('a browser error event carries nothing: says so, and what it could have been', () => {
    const event = { type: 'error' };
    const { error, terminal } = closeOutcome(1006, '', event, false, false);
    expect(terminal).toBe(false);
    expect(error.code).toBe(ErrorCode.CONNECTION_FAILED);
    expect(error.cause).toBe(event);
    expect(error.message).toMatch(/the browser does not expose why: server down, unknown host, wrong path, TLS failure and a refused upgrade look the same here/);
  });

  it('a connection lost after it opened is not blamed on the URL', () => {
    const { error } = closeOutcome(1006, '', { type: 'error' }, true, false);
    expect(error.code).toBe(ErrorCode.CONNECTION_FAILED);
    expect(error.message).toBe('connection lost (close code 1006)');
    expect(closeOutcome(1001, 'server shutting down', undefined, true, false).error.message).toBe(
      'connection lost (close code 1001: server shutting down)',
    );
  });

  it('while the device is offline, the failure is reported as offline whatever the platform said', () => {
    for (const event of [{ type: 'error' }, wsEvent('getaddrinfo ENOTFOUND x', 'ENOTFOUND'), undefined]) {
      const { error, terminal } = closeOutcome(1006, '', event, false, true);
      expect(error.code).toBe(ErrorCode.OFFLINE);
      expect(terminal).toBe(false);
    }
  });

  it('keeps the terminal close codes: 4001 is unauthorized, 4000 and 4002 connection_failed', () => {
    expect(closeOutcome(4001, 'unauthorized', undefined, true, false)).toMatchObject({
      terminal: true,
      error: { code: ErrorCode.UNAUTHORIZED, closeCode: 4001 },
    });
    for (const code of [4000, 4002]) {
      expect(closeOutcome(code, '', undefined, true, false)).toMatchObject({
        terminal: true,
        error: { code: ErrorCode.CONNECTION_FAILED, closeCode: code },
      });
    }
  });
});

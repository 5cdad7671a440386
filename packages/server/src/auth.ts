import type { IncomingMessage } from 'node:http';

/**
 * Reads the bearer token of an upgrade request: the `Authorization: Bearer …` header (Node and
 * native clients), else the `access_token` query parameter (browsers and React Native cannot
 * set headers on a WebSocket). Returns null when there is none. For use inside `authenticate`.
 */
export function tokenFromRequest(request: IncomingMessage, queryParameter = 'access_token'): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match !== null) return match[1]!;
  }
  const url = request.url;
  if (url === undefined) return null;
  const query = url.indexOf('?');
  if (query === -1) return null;
  const value = new URLSearchParams(url.slice(query + 1)).get(queryParameter);
  return value === null || value.length === 0 ? null : value;
}

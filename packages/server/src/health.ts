import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { writeJson, type NearbyServer } from './server.js';

/** Plain Node request handlers answering liveness and readiness of a {@link NearbyServer}. */
export interface NearbyHealthHandlers {
  /** 200 `{"status":"ok"}` until the server is closed, then 503 `{"status":"closed"}`. */
  liveness(request: IncomingMessage, response: ServerResponse): void;
  /** 200 with `server.readiness()` when ready, else 503 with it (its `reasons` say why). */
  readiness(request: IncomingMessage, response: ServerResponse): void;
}

/**
 * Request handlers for the host's own HTTP server: usable with `http.createServer`, as express
 * route handlers (`app.get('/readyz', handlers.readiness)`), and in fastify after
 * `reply.hijack()` with `request.raw` and `reply.raw`. Both answer JSON with
 * `cache-control: no-store`.
 */
export function createHealthHandlers(server: Pick<NearbyServer, 'health' | 'readiness'>): NearbyHealthHandlers {
  if (typeof server?.health !== 'function' || typeof server.readiness !== 'function') {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, 'createHealthHandlers(server): server must be a NearbyServer (from createNearbyServer)');
  }
  return {
    liveness(_request, response) {
      const health = server.health();
      writeJson(response, health.status === 'ok' ? 200 : 503, health);
    },
    readiness(_request, response) {
      const readiness = server.readiness();
      writeJson(response, readiness.ready ? 200 : 503, readiness);
    },
  };
}

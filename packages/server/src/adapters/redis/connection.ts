import { Redis, type RedisOptions } from 'ioredis';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { backgroundTimeout, globalTimers, nextReady, type Timers } from '../timers.js';

/** Defaults for clients Nearby creates: fail fast while disconnected instead of queueing. */
export const FAIL_FAST_OPTIONS: RedisOptions = {
  lazyConnect: true,
  // Commands issued while disconnected fail at once: the core degrades (local delivery, no cache)
  // instead of building an unbounded queue during an outage.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  // Commands issued in the same tick (a cache write and a publish) leave in one write.
  enableAutoPipelining: true,
  // Reconnect for ever, backing off to 2 s, so service resumes by itself when Redis is back.
  retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
};

/** `redis://host:port` of a client, for error messages. */
export function addressOf(client: Redis): string {
  const { host, port, path } = client.options;
  return path ? `redis+unix://${path}` : `redis://${host ?? '127.0.0.1'}:${port ?? 6379}`;
}

/**
 * Resolves when `client` is ready. Rejects with an `adapter_unavailable` NearbyError naming the
 * address when it is not ready within `timeoutMs` on `timers` (the client keeps retrying in the
 * background).
 */
export async function whenReady(client: Redis, timeoutMs: number, timers: Timers = globalTimers): Promise<void> {
  if (client.status === 'ready') return;
  let lastError: Error | undefined;
  const onError = (error: Error) => {
    lastError = error;
  };
  client.on('error', onError);
  try {
    if (client.status === 'wait') client.connect().catch(() => {});
    await nextReady(client, timers, timeoutMs, () => {
      const reason = lastError?.message ?? `not ready after ${timeoutMs} ms`;
      return new NearbyError(ErrorCode.ADAPTER_UNAVAILABLE, `could not connect to Redis at ${addressOf(client)}: ${reason}`, {
        cause: lastError,
      });
    });
  } finally {
    client.off('error', onError);
  }
}

/**
 * Closes a client politely, cutting it if QUIT does not complete within 1 s on `timers` (for
 * example while Redis is down).
 */
export async function closeClient(client: Redis, timers: Timers = globalTimers): Promise<void> {
  if (client.status === 'end') return;
  const wasConnected = client.status === 'ready';
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  if (wasConnected) await within(client.quit().catch(() => undefined), 1_000, timers);
  client.disconnect();
  // Between reconnect attempts there is no socket to close, and no 'end' event comes.
  if (wasConnected && (client.status as string) !== 'end') await within(ended, 1_000, timers);
}

/** Waits for `promise`, or `ms` at most, without keeping the process alive. */
async function within(promise: Promise<unknown>, ms: number, timers: Timers): Promise<void> {
  let timer: unknown;
  const limit = new Promise<void>((resolve) => {
    timer = backgroundTimeout(timers, resolve, ms);
  });
  await Promise.race([promise, limit]);
  timers.clearTimeout(timer);
}

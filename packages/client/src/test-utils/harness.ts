import { NearbyClient } from '../client.js';
import type { NearbyClientOptions } from '../options.js';
import type { NearbyClientEvents } from '../types.js';
import { FakeServer } from './fake-server.js';

/** One recorded event: its name and arguments. */
export type RecordedEvent = {
  [K in keyof NearbyClientEvents]: { event: K; args: Parameters<NearbyClientEvents[K]> };
}[keyof NearbyClientEvents];

const EVENTS: (keyof NearbyClientEvents)[] = [
  'nearby',
  'friendUpdate',
  'friendLeft',
  'friendAdded',
  'friendRemoved',
  'strangers',
  'strangerUpdate',
  'strangerLeft',
  'state',
  'error',
  'ack',
];

/**
 * A client wired to a {@link FakeServer}, with every event recorded. Defaults: URL
 * `wss://nearby.test/ws`, token `tok`, `random` fixed at 0.5 (so backoff delays are exactly half
 * their ceiling), and listener exceptions collected instead of rethrown.
 */
export function createHarness(options: Partial<NearbyClientOptions> = {}) {
  const server = new FakeServer();
  const listenerErrors: unknown[] = [];
  const client = new NearbyClient({
    url: 'wss://nearby.test/ws',
    token: 'tok',
    WebSocket: server.WebSocket,
    random: () => 0.5,
    onListenerError: (error) => listenerErrors.push(error),
    ...options,
  } as NearbyClientOptions);
  const events: RecordedEvent[] = [];
  for (const event of EVENTS) {
    client.on(event, ((...args: unknown[]) => events.push({ event, args } as RecordedEvent)) as never);
  }
  const of = <K extends keyof NearbyClientEvents>(event: K): Parameters<NearbyClientEvents[K]>[] =>
    events.filter((e) => e.event === event).map((e) => e.args as Parameters<NearbyClientEvents[K]>);
  return {
    client,
    server,
    events,
    listenerErrors,
    /** Arguments of every recorded `event`. */
    of,
    /** Error codes reported so far. */
    errorCodes: () => of('error').map(([error]) => error.code),
    /** States entered so far. */
    states: () => of('state').map(([state]) => state),
  };
}

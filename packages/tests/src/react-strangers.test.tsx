// @vitest-environment happy-dom
import { renderToString } from 'react-dom/server';
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NearbyClient,
  type NearbyStranger,
  type WebSocketConstructor,
  type WebSocketLike,
} from '@nearby/client';
import { NearbyProvider, useNearbyFriends, useNearbySnapshot, useNearbyStrangers } from '@nearby/client/react';

/**
 * `useNearbyStrangers()` rendered with React Testing Library, the client talking to an in-test
 * socket that plays the server's side of the protocol frame by frame.
 */

/** The server's side of one socket: frames the client sent, and a way to answer. */
class ScriptedSocket implements WebSocketLike {
  static sockets: ScriptedSocket[] = [];
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  readonly sent: Array<Record<string, unknown>> = [];

  constructor(readonly url: string) {
    ScriptedSocket.sockets.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code?: number, reason?: string): void {
    this.readyState = 3;
    this.onclose?.({ code: code ?? 1005, reason: reason ?? '' });
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({ type: 'open' });
  }

  push(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

const clients: NearbyClient[] = [];
afterEach(() => {
  cleanup();
  for (const client of clients.splice(0)) client.close();
  ScriptedSocket.sockets = [];
});

function newClient(): NearbyClient {
  const client = new NearbyClient({
    url: 'ws://nearby.test/nearby',
    token: 'token-alice',
    WebSocket: ScriptedSocket as unknown as WebSocketConstructor,
    seeStrangers: true,
    heartbeat: false,
    reconnect: false,
    onListenerError: (error) => {
      throw error;
    },
  });
  clients.push(client);
  return client;
}

const person = (id: string, distanceKm: number, display?: unknown): NearbyStranger => ({
  id,
  lat: 37.5665,
  lon: 126.978,
  distanceKm,
  updatedAt: Date.now(),
  ...(display === undefined ? {} : { display }),
});

const renders = { strangers: 0, friends: 0 };

function People() {
  renders.strangers++;
  const strangers = useNearbyStrangers();
  return (
    <ul data-testid="people">
      {strangers.map((stranger) => (
        <li key={stranger.id}>{`${(stranger.display as { name?: string } | undefined)?.name ?? stranger.id} ≤ ${stranger.distanceKm} km`}</li>
      ))}
    </ul>
  );
}

function Friends() {
  renders.friends++;
  return <p data-testid="friends">{useNearbyFriends().length}</p>;
}

function Seeing() {
  return <p data-testid="seeing">{String(useNearbySnapshot((snapshot) => snapshot.seeingStrangers))}</p>;
}

const items = () => Array.from(screen.getByTestId('people').querySelectorAll('li'), (li) => li.textContent);

describe('useNearbyStrangers', () => {
  it('renders the nearby people nearest first and re-renders only when their list changes', () => {
    renders.strangers = renders.friends = 0;
    const client = newClient();
    render(
      <NearbyProvider client={client}>
        <People />
        <Friends />
        <Seeing />
      </NearbyProvider>,
    );
    const socket = ScriptedSocket.sockets[0]!;
    act(() => socket.open());
    expect(socket.sent[0]).toMatchObject({ type: 'init', seeStrangers: true });
    act(() => {
      socket.push({
        type: 'snapshot',
        userId: 'alice',
        radiusKm: 8,
        maxRadiusKm: 50,
        sharing: true,
        inactiveAfterMs: 600_000,
        serverTime: Date.now(),
        friends: [],
        discoverable: false,
        seeStrangers: true,
      });
      socket.push({ type: 'discovery_state', discoverable: false, seeStrangers: true });
    });
    expect(screen.getByTestId('seeing').textContent).toBe('true');
    expect(items()).toEqual([]);

    act(() => socket.push({ type: 'stranger_update', strangers: [person('p2', 3), person('p1', 1, { name: 'Kim' })] }));
    expect(items()).toEqual(['Kim ≤ 1 km', 'p2 ≤ 3 km']);
    const strangerRenders = renders.strangers;

    // A friend moving changes the snapshot but not the list of nearby people.
    act(() =>
      socket.push({
        type: 'friend_update',
        friends: [{ userId: 'bob', lat: 37.57, lon: 126.98, distanceKm: 0.4, updatedAt: Date.now() }],
      }),
    );
    expect(screen.getByTestId('friends').textContent).toBe('1');
    expect(renders.strangers).toBe(strangerRenders);

    act(() => socket.push({ type: 'stranger_left', id: 'p1', reason: 'hidden' }));
    expect(items()).toEqual(['p2 ≤ 3 km']);

    act(() => client.setSeeingStrangers(false));
    expect(items()).toEqual([]);
    expect(screen.getByTestId('seeing').textContent).toBe('false');
  });

  it('renders no one on a server, without connecting', () => {
    const client = newClient();
    const html = renderToString(
      <NearbyProvider client={client}>
        <People />
      </NearbyProvider>,
    );
    expect(html).toBe('<ul data-testid="people"></ul>');
    expect(ScriptedSocket.sockets).toHaveLength(0);
  });

  it('throws outside a provider, naming the hook', () => {
    const spy = console.error;
    console.error = () => {};
    try {
      expect(() => render(<People />)).toThrow(/useNearbyStrangers\(\) must be called inside a <NearbyProvider>/);
    } finally {
      console.error = spy;
    }
  });
});

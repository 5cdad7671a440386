import { StrictMode } from 'react';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it } from 'vitest';
import { NearbyClient, type NearbySnapshot } from '@nearby/client';
import { NearbyProvider, useConnectionState, useNearbyFriends, useNearbySnapshot } from '@nearby/client/react';
import { tokenFromRequest } from '@nearby/server';
import { startServer, tokenFor, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

/**
 * Server-side rendering in Node: effects never run there, so the provider must render the idle
 * snapshot and open no connection, even with a real server listening and a friend online.
 */

let env: ServerResource | undefined;
let upgrades = 0;

afterEach(async () => {
  await env?.close();
  env = undefined;
  upgrades = 0;
});

async function serveWithBobOnline(): Promise<RawPeer> {
  env = await startServer({
    authenticate: (request) => {
      upgrades++;
      const token = tokenFromRequest(request);
      return token !== null && token.startsWith('token-') ? token.slice('token-'.length) : null;
    },
  });
  env.graph.link('alice', 'bob');
  const bob = await RawPeer.connect(env.urlFor('bob'));
  const point = offsetKm(ORIGIN, 1);
  await bob.init({ location: at(point.lat, point.lon) });
  return bob;
}

function Friends() {
  const state = useConnectionState();
  const friends = useNearbyFriends();
  const radius = useNearbySnapshot((snapshot) => snapshot.radiusKm);
  return (
    <p>
      {state}/{friends.length}/{String(radius)}
    </p>
  );
}

describe('@nearby/client/react on a server', () => {
  it('renderToString gives the idle markup and opens no connection, for an owned or a borrowed client', async () => {
    const bob = await serveWithBobOnline();
    const upgradesBefore = upgrades; // bob's
    const owned = renderToString(
      <StrictMode>
        <NearbyProvider options={{ url: env!.url, token: tokenFor('alice'), radiusKm: 5 }}>
          <Friends />
        </NearbyProvider>
      </StrictMode>,
    );
    expect(owned).toBe('<p>idle<!-- -->/<!-- -->0<!-- -->/<!-- -->null</p>');

    const client = new NearbyClient({ url: env!.url, token: tokenFor('alice') });
    const borrowed = renderToString(
      <NearbyProvider client={client}>
        <Friends />
      </NearbyProvider>,
    );
    expect(borrowed).toBe(owned);
    expect(client.getSnapshot().state).toBe('idle');

    await bob.sync();
    expect(upgrades - upgradesBefore).toBe(0);
    expect(env!.server.stats().connections).toBe(1); // bob only
    bob.socket.terminate();
  });

  it('every render on a server sees the same frozen idle snapshot', () => {
    const seen: NearbySnapshot[] = [];
    function Record() {
      seen.push(useNearbySnapshot());
      return null;
    }
    const tree = (
      <NearbyProvider options={{ url: 'ws://127.0.0.1:9/nearby' }}>
        <Record />
      </NearbyProvider>
    );
    renderToString(tree);
    renderToString(tree);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe(seen[1]);
    expect(Object.isFrozen(seen[0])).toBe(true);
    expect(Object.isFrozen(seen[0]!.friends)).toBe(true);
    expect(Object.isFrozen(seen[0]!.strangers)).toBe(true);
    expect(seen[0]).toEqual({
      state: 'idle',
      userId: null,
      friends: [],
      radiusKm: null,
      maxRadiusKm: null,
      sharing: true,
      strangers: [],
      discoverable: false,
      seeingStrangers: false,
      inactiveAfterMs: 600_000,
      serverTimeOffsetMs: 0,
      pendingSamples: 0,
      lastError: null,
    });
  });
});

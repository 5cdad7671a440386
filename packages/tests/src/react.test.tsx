// @vitest-environment happy-dom
import { StrictMode, useEffect, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { hydrateRoot, type Root } from 'react-dom/client';
import { act, cleanup, configure, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { ErrorCode, LeaveReason, NearbyClient, isNearbyError, type NearbyClientOptions, type WebSocketConstructor } from '@nearby/client';
import { NearbyProvider, useConnectionState, useNearbyClient, useNearbyFriends, useNearbySnapshot } from '@nearby/client/react';
import { tokenFromRequest } from '@nearby/server';
import { startServer, tokenFor, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

/**
 * `@nearby/client/react` rendered with React Testing Library (in happy-dom) against a real
 * server in this process. Friends are raw protocol peers, so what the server told them (and in
 * particular whether it ever announced this user `offline`) is observed on the wire.
 */

configure({ asyncUtilTimeout: 5_000 });

let env: ServerResource | undefined;
const peers: RawPeer[] = [];
const clients: NearbyClient[] = [];
/** Every socket a client under test opened, with the close code the server echoed. */
let sockets: Array<{ url: string; closeCode: number | undefined }> = [];
/** Upgrade requests the server authenticated. */
let upgrades = 0;

/** `ws`, counting sockets: happy-dom's own WebSocket is not the one under test. */
class CountingWebSocket extends WebSocket {
  constructor(url: string) {
    super(url);
    const record: { url: string; closeCode: number | undefined } = { url, closeCode: undefined };
    sockets.push(record);
    this.on('close', (code) => {
      record.closeCode = code;
    });
  }
}

async function serve(): Promise<ServerResource> {
  env = await startServer({
    authenticate: (request) => {
      upgrades++;
      const token = tokenFromRequest(request);
      return token !== null && token.startsWith('token-') ? token.slice('token-'.length) : null;
    },
  });
  env.graph.link('alice', 'bob');
  return env;
}

function optionsFor(userId: string, extra: Partial<NearbyClientOptions> = {}): NearbyClientOptions {
  return {
    url: env!.url,
    token: tokenFor(userId),
    WebSocket: CountingWebSocket as unknown as WebSocketConstructor,
    reconnect: false,
    onListenerError: (error) => {
      throw error;
    },
    ...extra,
  };
}

/** Bob, a raw peer 1.5 km north of the origin, already initialized. */
async function bobAt(northKm = 1.5): Promise<RawPeer> {
  const bob = await RawPeer.connect(env!.urlFor('bob'));
  peers.push(bob);
  const point = offsetKm(ORIGIN, northKm);
  await bob.init({ location: at(point.lat, point.lon) });
  return bob;
}

let bobSeq = 0;
function moveBob(bob: RawPeer, northKm: number): void {
  const point = offsetKm(ORIGIN, northKm);
  bob.send({ type: 'location', seq: ++bobSeq, samples: [at(point.lat, point.lon)] });
}

/** Bob's frames saying alice left, with their reasons. */
function aliceLeft(bob: RawPeer): string[] {
  return bob.ofType('friend_left').flatMap((frame) => (frame.userId === 'alice' ? [frame.reason] : []));
}

/** Waits until bob has a live position of alice. */
async function bobSeesAlice(bob: RawPeer): Promise<void> {
  await bob.waitFor((frame) => frame.type === 'friend_update' && frame.friends.some((f) => f.userId === 'alice'));
}

/**
 * Counts the app-state and network listeners (`visibilitychange`, `online`, `offline`) currently
 * registered on `document` and `window`: a client built during a render React throws away, or
 * one left open after unmount, would leave some behind.
 */
function trackLifecycleListeners(): () => Record<string, number> {
  const live: Record<string, number> = {};
  const types = new Set(['visibilitychange', 'online', 'offline']);
  for (const target of [document, window] as EventTarget[]) {
    const add = target.addEventListener.bind(target);
    const remove = target.removeEventListener.bind(target);
    vi.spyOn(target, 'addEventListener').mockImplementation((type, listener, options) => {
      if (types.has(type)) live[type] = (live[type] ?? 0) + 1;
      add(type, listener, options);
    });
    vi.spyOn(target, 'removeEventListener').mockImplementation((type, listener, options) => {
      if (types.has(type)) live[type] = (live[type] ?? 0) - 1;
      remove(type, listener, options);
    });
  }
  return () => ({ ...live });
}

/** Reports this user's position once the client is available. */
function Locate({ northKm = 0 }: { northKm?: number }) {
  const client = useNearbyClient();
  useEffect(() => {
    client.updateLocation(offsetKm(ORIGIN, northKm));
  }, [client, northKm]);
  return null;
}

function FriendsList() {
  const state = useConnectionState();
  const friends = useNearbyFriends();
  return (
    <section>
      <p data-testid="state">{state}</p>
      <ul>
        {friends.map((friend) => (
          <li key={friend.userId} data-testid={`friend-${friend.userId}`}>
            {friend.userId} {friend.distanceKm.toFixed(1)} km
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Hands the provided client to the test. */
function Expose({ into }: { into: { client?: NearbyClient } }) {
  into.client = useNearbyClient();
  return null;
}

function App({ options, children }: { options: NearbyClientOptions; children?: ReactNode }) {
  return (
    <NearbyProvider options={options}>
      <Locate />
      <FriendsList />
      {children}
    </NearbyProvider>
  );
}

afterEach(async () => {
  cleanup();
  await act(async () => {}); // lets a deferred close of an owned client run
  for (const client of clients.splice(0)) client.close();
  for (const peer of peers.splice(0)) peer.socket.terminate();
  await env?.close();
  env = undefined;
  sockets = [];
  upgrades = 0;
  vi.restoreAllMocks();
});

describe('NearbyProvider and hooks against a real server', () => {
  it('renders the nearby list, updates it when a friend moves and drops the friend out of range', async () => {
    await serve();
    const bob = await bobAt(1.5);
    render(
      <StrictMode>
        <App options={optionsFor('alice')} />
      </StrictMode>,
    );
    expect(await screen.findByTestId('friend-bob')).toHaveProperty('textContent', 'bob 1.5 km');
    expect(screen.getByTestId('state').textContent).toBe('connected');

    moveBob(bob, 3);
    await waitFor(() => expect(screen.getByTestId('friend-bob').textContent).toBe('bob 3.0 km'));

    moveBob(bob, 20); // beyond alice's 8 km
    await waitFor(() => expect(screen.queryByTestId('friend-bob')).toBeNull());
    expect(screen.getByTestId('state').textContent).toBe('connected');
  });

  it('renders every connection state it goes through: idle, connecting, connected; closed when refused', async () => {
    await serve();
    const rendered: string[] = [];
    function StateLog() {
      const state = useConnectionState();
      if (rendered.at(-1) !== state) rendered.push(state);
      return <p data-testid="state">{state}</p>;
    }
    const first = render(
      <NearbyProvider options={optionsFor('alice')}>
        <StateLog />
      </NearbyProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('state').textContent).toBe('connected'));
    expect(rendered).toEqual(['idle', 'connecting', 'connected']);
    first.unmount();

    // A token the server refuses: the client ends `closed`, with the reason in the snapshot.
    rendered.length = 0;
    function Refusal() {
      const code = useNearbySnapshot((snapshot) => snapshot.lastError?.code ?? 'none');
      return <p data-testid="error">{code}</p>;
    }
    render(
      <NearbyProvider options={optionsFor('mallory', { token: 'forged' })}>
        <StateLog />
        <Refusal />
      </NearbyProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('state').textContent).toBe('closed'));
    expect(rendered).toEqual(['idle', 'connecting', 'closed']);
    expect(screen.getByTestId('error').textContent).toBe(ErrorCode.UNAUTHORIZED);
  });

  it("StrictMode's double mount opens one socket, sends one init and never signs the user off", async () => {
    await serve();
    const bob = await bobAt(1.5);
    const upgradesBefore = upgrades;
    const listeners = trackLifecycleListeners();
    const events: string[] = [];
    function StateEvents() {
      const client = useNearbyClient();
      // Child effects run before the provider's, so this sees the very first transition.
      useEffect(() => client.on('state', (state) => events.push(state)), [client]);
      return null;
    }
    render(
      <StrictMode>
        <App options={optionsFor('alice')}>
          <StateEvents />
        </App>
      </StrictMode>,
    );
    await screen.findByTestId('friend-bob');
    await bobSeesAlice(bob);
    await bob.sync();

    expect(events).toEqual(['connecting', 'connected']);
    expect(sockets).toHaveLength(1);
    expect(upgrades - upgradesBefore).toBe(1);
    expect(env!.server.stats().connections).toBe(2); // bob and alice
    expect(aliceLeft(bob)).toEqual([]);
    expect(Object.values(listeners()).every((count) => count <= 1)).toBe(true);
  });

  it('unmounting the provider closes the client it owns: code 1000, and the friend sees alice go offline', async () => {
    await serve();
    const bob = await bobAt(1.5);
    const listeners = trackLifecycleListeners();
    const exposed: { client?: NearbyClient } = {};
    const view = render(
      <StrictMode>
        <App options={optionsFor('alice')}>
          <Expose into={exposed} />
        </App>
      </StrictMode>,
    );
    await screen.findByTestId('friend-bob');
    await bobSeesAlice(bob);
    expect(aliceLeft(bob)).toEqual([]);

    view.unmount();
    await bob.waitFor((frame) => frame.type === 'friend_left' && frame.userId === 'alice');
    expect(aliceLeft(bob)).toEqual([LeaveReason.OFFLINE]);
    expect(exposed.client!.getSnapshot().state).toBe('closed');
    await waitFor(() => expect(sockets.map((socket) => socket.closeCode)).toEqual([1000]));
    expect(Object.values(listeners()).every((count) => count === 0)).toBe(true);
  });

  it('a new key starts over: the old client signs off, a new one connects with the new options', async () => {
    await serve();
    env!.graph.link('carol', 'bob');
    const bob = await bobAt(1.5);
    const tree = (userId: string) => (
      <StrictMode>
        <App key={userId} options={optionsFor(userId)} />
      </StrictMode>
    );
    const view = render(tree('alice'));
    await screen.findByTestId('friend-bob');
    await bobSeesAlice(bob);

    view.rerender(tree('carol'));
    await bob.waitFor((frame) => frame.type === 'friend_left' && frame.userId === 'alice');
    expect(aliceLeft(bob)).toEqual([LeaveReason.OFFLINE]);
    await bob.waitFor((frame) => frame.type === 'friend_update' && frame.friends.some((f) => f.userId === 'carol'));
    await waitFor(() => expect(screen.getByTestId('state').textContent).toBe('connected'));
    expect(screen.getByTestId('friend-bob').textContent).toBe('bob 1.5 km');
    expect(sockets.map((socket) => socket.url.includes(tokenFor('carol')))).toEqual([false, true]);
  });

  it('a caller-owned client is connected on mount and left connected on unmount', async () => {
    await serve();
    const bob = await bobAt(1.5);
    const client = new NearbyClient(optionsFor('alice'));
    clients.push(client);
    client.updateLocation(ORIGIN);
    const view = render(
      <StrictMode>
        <NearbyProvider client={client}>
          <FriendsList />
        </NearbyProvider>
      </StrictMode>,
    );
    await screen.findByTestId('friend-bob');
    await bobSeesAlice(bob);

    view.unmount();
    await act(async () => {});
    await bob.sync();
    expect(client.getSnapshot().state).toBe('connected');
    expect(aliceLeft(bob)).toEqual([]);
    expect(sockets).toHaveLength(1);

    // The owner closes it: now, and only now, bob is told.
    client.close();
    await bob.waitFor((frame) => frame.type === 'friend_left' && frame.userId === 'alice');
    expect(aliceLeft(bob)).toEqual([LeaveReason.OFFLINE]);
  });

  it('connect={false} leaves the client idle until it turns true', async () => {
    await serve();
    const client = new NearbyClient(optionsFor('alice'));
    clients.push(client);
    const tree = (connect: boolean) => (
      <NearbyProvider client={client} connect={connect}>
        <FriendsList />
      </NearbyProvider>
    );
    const view = render(tree(false));
    await act(async () => {});
    expect(screen.getByTestId('state').textContent).toBe('idle');
    expect(sockets).toHaveLength(0);

    view.rerender(tree(true));
    await waitFor(() => expect(screen.getByTestId('state').textContent).toBe('connected'));
    expect(sockets).toHaveLength(1);
  });

  it('the provider creates its client once, whatever the re-renders, and warns once when options change', async () => {
    await serve();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const exposed: { client?: NearbyClient } = {};
    const tree = (radiusKm: number) => (
      <StrictMode>
        <App options={optionsFor('alice', { radiusKm })}>
          <Expose into={exposed} />
        </App>
      </StrictMode>
    );
    const view = render(tree(5));
    await waitFor(() => expect(screen.getByTestId('state').textContent).toBe('connected'));
    const first = exposed.client;
    view.rerender(tree(5)); // a new options object with the same values: no warning
    expect(warn).not.toHaveBeenCalled();
    view.rerender(tree(6));
    view.rerender(tree(7));
    expect(exposed.client).toBe(first);
    expect(first!.getSnapshot().radiusKm).toBe(5);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/options\.radiusKm.*ignored.*key/);
    expect(sockets).toHaveLength(1);
  });

  it('hydrates server-rendered idle markup without a mismatch, then connects', async () => {
    await serve();
    await bobAt(1.5);
    const tree = (
      <StrictMode>
        <App options={optionsFor('alice')} />
      </StrictMode>
    );
    const container = document.createElement('div');
    document.body.append(container);
    container.innerHTML = renderToString(tree);
    expect(container.querySelector('[data-testid="state"]')!.textContent).toBe('idle');
    expect(sockets).toHaveLength(0);

    const recoverable: unknown[] = [];
    const errors = vi.spyOn(console, 'error');
    let root: Root | undefined;
    await act(async () => {
      root = hydrateRoot(container, tree, { onRecoverableError: (error) => recoverable.push(error) });
    });
    await waitFor(() => expect(container.querySelector('[data-testid="friend-bob"]')?.textContent).toBe('bob 1.5 km'));
    expect(recoverable).toEqual([]);
    expect(errors).not.toHaveBeenCalled();
    expect(sockets).toHaveLength(1);
    act(() => root!.unmount());
    container.remove();
  });
});

describe('hook and provider misuse', () => {
  it.each([
    ['useNearbyClient', () => useNearbyClient()],
    ['useNearbySnapshot', () => useNearbySnapshot()],
    ['useNearbyFriends', () => useNearbyFriends()],
    ['useConnectionState', () => useConnectionState()],
  ])('%s outside a provider throws an error naming NearbyProvider', (name, hook) => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    function Orphan() {
      hook();
      return null;
    }
    expect(() => render(<Orphan />)).toThrow(new RegExp(`^${name}\\(\\) must be called inside a <NearbyProvider>`));
  });

  const client = () => new NearbyClient({ url: 'ws://127.0.0.1:9/nearby', WebSocket: CountingWebSocket as unknown as WebSocketConstructor });

  it.each<[string, () => ReactNode, RegExp]>([
    ['neither options nor client', () => <NearbyProvider />, /exactly one of `options`.*got neither/],
    [
      'both options and client',
      () => <NearbyProvider options={{ url: 'ws://127.0.0.1:9/nearby' }} client={client()} />,
      /exactly one of `options`.*got both/,
    ],
    ['a client that is not a NearbyClient', () => <NearbyProvider client={{} as NearbyClient} />, /`client` must be a NearbyClient/],
    ['a connect that is not a boolean', () => <NearbyProvider client={client()} connect={'yes' as unknown as boolean} />, /`connect` must be a boolean/],
    ['invalid options', () => <NearbyProvider options={{ url: 'http://example.com/nearby' }} />, /url/],
    ['a selector that is not a function', () => <NearbyProvider client={client()}><BadSelector /></NearbyProvider>, /selector must be a function/],
  ])('%s: NearbyError invalid_argument, no socket', (_name, tree, message) => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    let thrown: unknown;
    try {
      render(<>{tree()}</>);
    } catch (error) {
      thrown = error;
    }
    expect(isNearbyError(thrown) && thrown.code === ErrorCode.INVALID_ARGUMENT).toBe(true);
    expect(String((thrown as Error).message)).toMatch(message);
    expect(sockets).toHaveLength(0);
  });

  it('switching between client and options after mount throws instead of mixing two clients', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const borrowed = client();
    const view = render(<NearbyProvider client={borrowed} connect={false} />);
    expect(() => view.rerender(<NearbyProvider options={{ url: 'ws://127.0.0.1:9/nearby' }} connect={false} />)).toThrow(
      /cannot switch between `options` and `client`.*key/,
    );
  });
});

function BadSelector() {
  useNearbySnapshot(42 as unknown as () => number);
  return null;
}

describe('selectors', () => {
  it('re-render only components whose selection changed', () => {
    const client = new NearbyClient({ url: 'ws://127.0.0.1:9/nearby', WebSocket: CountingWebSocket as unknown as WebSocketConstructor });
    const renders = { state: 0, friends: 0, pending: 0, settings: 0, whole: 0 };
    function State() {
      renders.state++;
      return <p>{useConnectionState()}</p>;
    }
    function Friends() {
      renders.friends++;
      return <p>{useNearbyFriends().length}</p>;
    }
    function Pending() {
      renders.pending++;
      return <p data-testid="pending">{useNearbySnapshot((snapshot) => snapshot.pendingSamples)}</p>;
    }
    function Settings() {
      renders.settings++;
      // A new object on every call, kept stable by the equality function.
      const settings = useNearbySnapshot(
        (snapshot) => ({ sharing: snapshot.sharing, radiusKm: snapshot.radiusKm }),
        (a, b) => a.sharing === b.sharing && a.radiusKm === b.radiusKm,
      );
      return <p data-testid="settings">{`${settings.sharing} ${settings.radiusKm}`}</p>;
    }
    function Whole() {
      renders.whole++;
      return <p>{useNearbySnapshot().pendingSamples}</p>;
    }
    render(
      <NearbyProvider client={client} connect={false}>
        <State />
        <Friends />
        <Pending />
        <Settings />
        <Whole />
      </NearbyProvider>,
    );
    expect(renders).toEqual({ state: 1, friends: 1, pending: 1, settings: 1, whole: 1 });

    act(() => client.updateLocation(ORIGIN)); // only pendingSamples changes
    expect(screen.getByTestId('pending').textContent).toBe('1');
    expect(renders).toEqual({ state: 1, friends: 1, pending: 2, settings: 1, whole: 2 });

    act(() => client.setRadius(3)); // only radiusKm changes
    expect(screen.getByTestId('settings').textContent).toBe('true 3');
    expect(renders).toEqual({ state: 1, friends: 1, pending: 2, settings: 2, whole: 3 });
    expect(sockets).toHaveLength(0);
  });
});

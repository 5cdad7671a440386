import { ErrorCode, NearbyError, StrangerLeftReason, type NearbyStranger } from '@nearby/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { stranger } from './test-utils/fake-server.js';
import { createHarness } from './test-utils/harness.js';

const T0 = 1_700_000_000_000;

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

const ids = (list: readonly NearbyStranger[]) => list.map((x) => x.id);
const state = (discoverable: boolean, seeStrangers: boolean) => ({ type: 'discovery_state', discoverable, seeStrangers }) as const;

/** A client that asked to see nearby people, connected, and told by the server that it does. */
function seeing(options: Parameters<typeof createHarness>[0] = {}) {
  const h = createHarness({ seeStrangers: true, ...options });
  const discoverable = options.discoverable === true;
  h.client.connect();
  const socket = h.server.accept({ discoverable, seeStrangers: true });
  socket.push(state(discoverable, true));
  return { ...h, socket };
}

describe('opt-ins before connecting', () => {
  it('are off by default and not named in init', () => {
    const h = createHarness();
    expect(h.client.getSnapshot()).toMatchObject({ discoverable: false, seeingStrangers: false, strangers: [] });
    h.client.connect();
    h.server.latest.open();
    const [init] = h.server.latest.framesOf('init');
    expect(init).not.toHaveProperty('discoverable');
    expect(init).not.toHaveProperty('seeStrangers');
  });

  it('are queued while disconnected and sent in init; they read as on only once the server confirms', () => {
    const h = createHarness();
    h.client.setDiscoverable(true);
    h.client.setSeeingStrangers(true);
    expect(h.client.getSnapshot()).toMatchObject({ discoverable: false, seeingStrangers: false });
    h.client.connect();
    const socket = h.server.latest.open();
    expect(socket.framesOf('init')[0]).toMatchObject({ discoverable: true, seeStrangers: true });
    socket.push(h.server.snapshot({ discoverable: true, seeStrangers: true }));
    socket.push(state(true, true));
    expect(h.client.getSnapshot()).toMatchObject({ state: 'connected', discoverable: true, seeingStrangers: true });
    expect(socket.framesOf('discovery')).toEqual([]);
    expect(h.server.protocolErrors).toEqual([]);
  });

  it('an option chosen off is asserted in init until confirmed; an opt-in that is on is asked for in every init', () => {
    const h = createHarness({ discoverable: false, seeStrangers: true, reconnect: { initialDelayMs: 100 } });
    h.client.connect();
    let socket = h.server.latest.open();
    expect(socket.framesOf('init')[0]).toMatchObject({ discoverable: false, seeStrangers: true });
    socket.push(h.server.snapshot({ seeStrangers: true }));
    socket.push(state(false, true));
    // The server forgets both when the connection ends: the next init asks again for what is on.
    socket.serverClose(1006);
    vi.advanceTimersByTime(100);
    socket = h.server.latest.open();
    const [init] = socket.framesOf('init');
    expect(init).toMatchObject({ seeStrangers: true });
    expect(init).not.toHaveProperty('discoverable');
  });

  it('are validated: a non-boolean is refused with invalid_argument naming the setting', () => {
    const h = createHarness();
    const refusal = (run: () => void) => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(NearbyError);
        expect((error as NearbyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
        return (error as Error).message;
      }
      throw new Error('expected a refusal');
    };
    expect(refusal(() => h.client.setDiscoverable('yes' as unknown as boolean))).toBe('discoverable must be a boolean (got "yes")');
    expect(refusal(() => h.client.setSeeingStrangers(1 as unknown as boolean))).toBe('seeStrangers must be a boolean (got 1)');
    expect(refusal(() => createHarness({ discoverable: 'on' as unknown as boolean }))).toBe(
      'options.discoverable must be a boolean (got "on")',
    );
    expect(refusal(() => createHarness({ seeStrangers: null as unknown as boolean }))).toBe(
      'options.seeStrangers must be a boolean (got null)',
    );
    expect(refusal(() => createHarness({ seestrangers: true } as never))).toBe(
      'unknown option seestrangers — did you mean seeStrangers?',
    );
  });
});

describe('opt-ins while connected', () => {
  it('a change goes out as a discovery frame carrying both opt-ins and is confirmed by discovery_state', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept();
    h.client.setDiscoverable(true);
    expect(socket.framesOf('discovery')).toEqual([{ type: 'discovery', discoverable: true, seeStrangers: false }]);
    expect(h.client.getSnapshot().discoverable).toBe(false);
    socket.push(state(true, false));
    expect(h.client.getSnapshot().discoverable).toBe(true);
    // Turning it off reads as off at once.
    vi.advanceTimersByTime(1_000);
    h.client.setDiscoverable(false);
    expect(h.client.getSnapshot().discoverable).toBe(false);
    expect(socket.framesOf('discovery')).toHaveLength(2);
    expect(h.server.protocolErrors).toEqual([]);
  });

  it('sends at most one change a second; later changes go out together, and earlier answers do not revert them', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept();
    h.client.setDiscoverable(true);
    vi.advanceTimersByTime(300);
    h.client.setSeeingStrangers(true);
    h.client.setDiscoverable(false);
    expect(socket.framesOf('discovery')).toHaveLength(1);
    // The answer to the first frame arrives while the second change waits.
    socket.push(state(true, false));
    expect(h.client.getSnapshot()).toMatchObject({ discoverable: false, seeingStrangers: false });
    vi.advanceTimersByTime(699);
    expect(socket.framesOf('discovery')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(socket.framesOf('discovery')[1]).toEqual({ type: 'discovery', discoverable: false, seeStrangers: true });
    socket.push(state(false, true));
    expect(h.client.getSnapshot()).toMatchObject({ discoverable: false, seeingStrangers: true });
  });

  it('a change waits at most a second, even when the device clock was set back', () => {
    let now = T0;
    const h = createHarness({ timers: { setTimeout, clearTimeout, now: () => now } });
    h.client.connect();
    const socket = h.server.accept();
    h.client.setDiscoverable(true);
    now -= 3_600_000; // the clock goes back an hour
    h.client.setSeeingStrangers(true);
    vi.advanceTimersByTime(999);
    expect(socket.framesOf('discovery')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(socket.framesOf('discovery')).toHaveLength(2);
  });

  it('a change the server refused as too soon goes out again a second later, unreverted', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept();
    h.client.setSeeingStrangers(true);
    socket.push(state(false, true)); // the answer to that frame
    vi.advanceTimersByTime(1_000);
    h.client.setDiscoverable(true);
    expect(socket.framesOf('discovery')).toHaveLength(2);
    // It reached the server less than a second after the first after all.
    socket.push({ type: 'error', code: 'rate_limited', message: 'one discovery frame per second', frameType: 'discovery' });
    socket.push(state(false, true));
    expect(h.errorCodes()).toEqual([ErrorCode.RATE_LIMITED]);
    expect(h.client.getSnapshot()).toMatchObject({ discoverable: false, seeingStrangers: true });
    vi.advanceTimersByTime(999);
    expect(socket.framesOf('discovery')).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(socket.framesOf('discovery')[2]).toEqual({ type: 'discovery', discoverable: true, seeStrangers: true });
    socket.push(state(true, true));
    expect(h.client.getSnapshot()).toMatchObject({ discoverable: true, seeingStrangers: true });
  });

  it('a change made while init was in flight goes out after the snapshot and survives the answer to init', () => {
    const h = createHarness({ discoverable: true });
    h.client.connect();
    const socket = h.server.latest.open();
    h.client.setDiscoverable(false);
    socket.push(h.server.snapshot({ discoverable: true }));
    socket.push(state(true, false)); // the answer to init
    expect(h.client.getSnapshot().discoverable).toBe(false);
    vi.advanceTimersByTime(1_000); // one change a second, init included
    expect(socket.framesOf('discovery')).toEqual([{ type: 'discovery', discoverable: false, seeStrangers: false }]);
    socket.push(state(false, false));
    expect(h.client.getSnapshot().discoverable).toBe(false);
  });

  it('a refusal raises not_allowed and the opt-in stays off; later inits stop asking for it', () => {
    const h = createHarness({ reconnect: { initialDelayMs: 100 } });
    h.client.connect();
    let socket = h.server.accept();
    const seen: boolean[] = [];
    h.client.subscribe(() => seen.push(h.client.getSnapshot().discoverable));
    h.client.setDiscoverable(true);
    socket.push({ type: 'error', code: 'not_allowed', message: 'not allowed', frameType: 'discovery' });
    socket.push(state(false, false));
    expect(h.errorCodes()).toEqual([ErrorCode.NOT_ALLOWED]);
    expect(h.client.getSnapshot().discoverable).toBe(false);
    expect(seen).not.toContain(true);
    expect(h.client.getSnapshot().state).toBe('connected');
    socket.serverClose(1006);
    vi.advanceTimersByTime(100);
    socket = h.server.latest.open();
    expect(socket.framesOf('init')[0]).not.toHaveProperty('discoverable');
  });

  it('a refusal of the opt-ins in init leaves them off', () => {
    const h = createHarness({ seeStrangers: true });
    h.client.connect();
    const socket = h.server.latest.open();
    socket.push({ type: 'error', code: 'not_allowed', message: 'not allowed', frameType: 'init' });
    socket.push(h.server.snapshot());
    socket.push(state(false, false));
    expect(h.errorCodes()).toEqual([ErrorCode.NOT_ALLOWED]);
    expect(h.client.getSnapshot()).toMatchObject({ state: 'connected', seeingStrangers: false });
    socket.push({ type: 'stranger_update', strangers: [stranger('s1', 1)] });
    expect(h.client.getSnapshot().strangers).toEqual([]);
  });

  it('follows the server when another device or the host changes them', () => {
    const h = createHarness();
    h.client.connect();
    const socket = h.server.accept({ discoverable: true });
    expect(h.client.getSnapshot().discoverable).toBe(true);
    socket.push(state(false, true));
    expect(h.client.getSnapshot()).toMatchObject({ discoverable: false, seeingStrangers: true });
  });

  it('an older server without nearby people: both read as off and nothing waits for an answer', () => {
    const h = createHarness({ discoverable: true });
    h.client.connect();
    h.server.accept({ discoverable: undefined, seeStrangers: undefined });
    expect(h.client.getSnapshot()).toMatchObject({ state: 'connected', discoverable: false });
    h.server.latest.push(h.server.snapshot({ discoverable: undefined, seeStrangers: undefined, radiusKm: 3 }));
    expect(h.client.getSnapshot()).toMatchObject({ radiusKm: 3, discoverable: false });
  });
});

describe('the list of nearby people', () => {
  it('stranger_update upserts, emits strangerUpdate per entry then strangers, sorted by distance then id', () => {
    const h = seeing();
    h.events.length = 0;
    const display = { name: 'Kim', avatar: 'https://example.test/k.png' };
    h.socket.push({ type: 'stranger_update', strangers: [stranger('b', 2), stranger('c', 1, { display }), stranger('a', 2)] });
    expect(h.events.map((e) => e.event)).toEqual(['strangerUpdate', 'strangerUpdate', 'strangerUpdate', 'strangers']);
    const list = h.client.getSnapshot().strangers;
    expect(ids(list)).toEqual(['c', 'a', 'b']);
    expect(list[0]).toEqual(stranger('c', 1, { display }));
    expect(Object.isFrozen(list)).toBe(true);
    expect(Object.isFrozen(list[0])).toBe(true);
    expect(h.of('strangers')[0]?.[0]).toBe(list);
    // The same entries again change nothing: same array, no strangers event.
    h.socket.push({ type: 'stranger_update', strangers: [stranger('c', 1, { display: { ...display } })] });
    expect(h.client.getSnapshot().strangers).toBe(list);
    expect(h.of('strangers')).toHaveLength(1);
    h.socket.push({ type: 'stranger_update', strangers: [stranger('a', 0)] });
    expect(ids(h.client.getSnapshot().strangers)).toEqual(['a', 'c', 'b']);
  });

  it('drops fields it does not know', () => {
    const h = seeing();
    h.socket.push({ type: 'stranger_update', strangers: [{ ...stranger('a', 1), extra: 'x' } as NearbyStranger] });
    expect(Object.keys(h.client.getSnapshot().strangers[0]!)).toEqual(['id', 'lat', 'lon', 'distanceKm', 'updatedAt']);
  });

  it('stranger_left removes the entry with its reason; an unknown id changes nothing', () => {
    const h = seeing();
    h.socket.push({ type: 'stranger_update', strangers: [stranger('a', 1), stranger('b', 2)] });
    h.events.length = 0;
    h.socket.push({ type: 'stranger_left', id: 'a', reason: 'displaced' });
    expect(h.events.map((e) => e.event)).toEqual(['strangerLeft', 'strangers']);
    expect(h.of('strangerLeft')).toEqual([[{ id: 'a', reason: StrangerLeftReason.DISPLACED }]]);
    expect(ids(h.client.getSnapshot().strangers)).toEqual(['b']);
    h.socket.push({ type: 'stranger_left', id: 'nobody', reason: 'hidden' });
    expect(h.events).toHaveLength(2);
  });

  it('stranger_left with a reason from a newer server removes the entry and passes the reason on', () => {
    const h = seeing();
    h.socket.push({ type: 'stranger_update', strangers: [stranger('a', 1), stranger('b', 2)] });
    h.events.length = 0;
    h.socket.pushRaw(JSON.stringify({ type: 'stranger_left', id: 'a', reason: 'went_dark' }));
    expect(h.events.map((e) => e.event)).toEqual(['strangerLeft', 'strangers']);
    expect(h.of('strangerLeft')).toEqual([[{ id: 'a', reason: 'went_dark' }]]);
    expect(ids(h.client.getSnapshot().strangers)).toEqual(['b']);
  });

  it('turning seeing off empties the list at once, without strangerLeft, and ignores late updates', () => {
    const h = seeing();
    h.socket.push({ type: 'stranger_update', strangers: [stranger('a', 1)] });
    h.events.length = 0;
    vi.advanceTimersByTime(1_000);
    h.client.setSeeingStrangers(false);
    expect(h.client.getSnapshot()).toMatchObject({ seeingStrangers: false, strangers: [] });
    expect(h.events.map((e) => e.event)).toEqual(['strangers']);
    expect(h.socket.framesOf('discovery')).toEqual([{ type: 'discovery', discoverable: false, seeStrangers: false }]);
    h.socket.push({ type: 'stranger_update', strangers: [stranger('late', 1)] });
    expect(h.client.getSnapshot().strangers).toEqual([]);
  });

  it('is emptied when the server says seeing is off, by discovery_state or snapshot', () => {
    const h = seeing();
    h.socket.push({ type: 'stranger_update', strangers: [stranger('a', 1)] });
    h.socket.push(state(false, false));
    expect(h.client.getSnapshot().strangers).toEqual([]);

    const g = seeing();
    g.socket.push({ type: 'stranger_update', strangers: [stranger('a', 1)] });
    g.socket.push(g.server.snapshot({ seeStrangers: false }));
    expect(g.client.getSnapshot()).toMatchObject({ seeingStrangers: false, strangers: [] });
  });

  it('is emptied by every snapshot, which the server follows with the current list', () => {
    const h = seeing({ reconnect: { initialDelayMs: 100 } });
    h.socket.push({ type: 'stranger_update', strangers: [stranger('a', 1), stranger('gone', 2)] });
    h.events.length = 0;
    h.socket.push(h.server.snapshot({ seeStrangers: true, radiusKm: 3 }));
    expect(h.client.getSnapshot()).toMatchObject({ seeingStrangers: true, strangers: [] });
    expect(h.events.map((e) => e.event)).toEqual(['strangers']);
    h.socket.push({ type: 'stranger_update', strangers: [stranger('a', 1)] });
    expect(ids(h.client.getSnapshot().strangers)).toEqual(['a']);
    // Likewise after a reconnect: the new connection's list replaces what was shown.
    h.socket.serverClose(1006);
    expect(ids(h.client.getSnapshot().strangers)).toEqual(['a']);
    vi.advanceTimersByTime(100);
    const socket = h.server.latest.open();
    expect(socket.framesOf('init')[0]).toMatchObject({ seeStrangers: true });
    socket.push(h.server.snapshot({ seeStrangers: true }));
    socket.push(state(false, true));
    expect(h.client.getSnapshot().strangers).toEqual([]);
    socket.push({ type: 'stranger_update', strangers: [stranger('b', 1)] });
    expect(ids(h.client.getSnapshot().strangers)).toEqual(['b']);
  });

  it('close() empties the list; both opt-ins read as off until the server confirms them again', () => {
    const h = seeing({ discoverable: true });
    h.socket.push({ type: 'stranger_update', strangers: [stranger('a', 1)] });
    expect(h.client.getSnapshot().discoverable).toBe(true);
    h.client.close();
    expect(h.client.getSnapshot()).toMatchObject({ state: 'closed', strangers: [], discoverable: false, seeingStrangers: false });
    h.client.connect();
    expect(h.server.latest.open().framesOf('init')[0]).toMatchObject({ discoverable: true, seeStrangers: true });
  });

  it('expires an entry inactiveAfterMs after its updatedAt, in server time, with strangerLeft inactive', () => {
    const skew = 60_000;
    const h = createHarness({ seeStrangers: true });
    h.client.connect();
    const socket = h.server.latest.open();
    socket.push(h.server.snapshot({ serverTime: T0 + skew, inactiveAfterMs: 120_000, seeStrangers: true }));
    socket.push(state(false, true));
    socket.push({
      type: 'stranger_update',
      strangers: [stranger('old', 1, { updatedAt: T0 + skew - 90_000 }), stranger('new', 2, { updatedAt: T0 + skew })],
    });
    vi.advanceTimersByTime(29_999);
    expect(ids(h.client.getSnapshot().strangers)).toEqual(['old', 'new']);
    vi.advanceTimersByTime(1);
    expect(ids(h.client.getSnapshot().strangers)).toEqual(['new']);
    expect(h.of('strangerLeft')).toEqual([[{ id: 'old', reason: StrangerLeftReason.INACTIVE }]]);
    vi.advanceTimersByTime(90_000);
    expect(h.client.getSnapshot().strangers).toEqual([]);
    expect(h.of('strangerLeft').map(([e]) => e.id)).toEqual(['old', 'new']);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, StrangerLeftReason, type ServerFrame } from '@nearby/protocol';
import type { StrangersOptions } from '@nearby/server';
import { startServer, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { join, listOf, move, numbersIn, pseudonymFor } from './helpers/strangers.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

/**
 * Nearby people (protocol.md §20) on one real server, as raw frames: what a viewer receives is
 * derived from cells only, refused pairs stay silent, friends stay friends, the list is capped.
 */
const SECRET = 'a-test-secret-of-some-length';
const pseudonym = pseudonymFor(SECRET);
let env: ServerResource;
const peers: RawPeer[] = [];

async function server(strangers: StrangersOptions = {}): Promise<ServerResource> {
  env = await startServer({ strangers: { secret: SECRET, publishIntervalMs: 0, refreshMs: 0, ...strangers } });
  return env;
}

async function peer(userId: string): Promise<RawPeer> {
  const p = await RawPeer.connect(env.urlFor(userId));
  peers.push(p);
  return p;
}

afterEach(async () => {
  for (const p of peers.splice(0)) p.socket.terminate();
  await env?.close();
});

describe('nearby people on one server (raw frames)', () => {
  it('never puts an exact position in any frame a stranger receives', async () => {
    await server();
    const carol = await peer('carol');
    const dan = await peer('dan');
    // Positions with many decimals, so that no rounding of a cell centre can hit them by chance.
    const route = [
      { lat: 37.56871234, lon: 126.97731917 },
      { lat: 37.57013377, lon: 126.98511131 },
      { lat: 37.58142953, lon: 126.99233781 },
      { lat: 37.55517713, lon: 126.96429177 },
    ];
    await join(carol, route[0]!, { discoverable: true });
    await join(dan, offsetKm(ORIGIN, 0.3, 0.2), { seeStrangers: true });
    for (const point of route.slice(1)) {
      move(carol, point);
      await carol.sync();
    }
    // Dan moves around her to triangulate.
    for (const [north, east] of [[1, 0], [0, 1], [-1, 0], [0, -1]] as const) {
      move(dan, offsetKm(route.at(-1)!, north, east));
      await dan.sync();
    }
    await dan.waitFor((f) => f.type === 'stranger_update' && f.strangers[0]!.lat < 37.56);
    const entries = dan.ofType('stranger_update').flatMap((f) => f.strangers);
    expect(entries.length).toBeGreaterThanOrEqual(4);
    const exact = route.flatMap((point) => [point.lat, point.lon]);
    for (const text of dan.raw) {
      for (const value of numbersIn(text)) {
        for (const secret of exact) expect(Math.abs(value - secret), `${value} in ${text}`).toBeGreaterThan(1e-4 / 2);
      }
    }
    for (const entry of entries) {
      expect(entry.id).toBe(pseudonym('dan', 'carol'));
      expect(Number.isInteger(entry.distanceKm)).toBe(true);
      expect(Math.round(entry.lat * 10_000) / 10_000).toBe(entry.lat);
      expect(Math.round(entry.lon * 10_000) / 10_000).toBe(entry.lon);
      expect(entry.updatedAt % 30_000).toBe(0);
      expect(JSON.stringify(entry)).not.toContain('carol');
    }
    // Nor does her id appear anywhere Dan can read.
    expect(dan.raw.some((text) => text.includes('carol'))).toBe(false);
  });

  it('when canSee refuses, the viewer receives no frame naming or locating the stranger', async () => {
    const asked: string[] = [];
    await server({
      canSee: async (viewer, stranger) => {
        asked.push(`${viewer}>${stranger}`);
        return !(viewer === 'dan' && stranger === 'carol');
      },
    });
    const carol = await peer('carol');
    const dan = await peer('dan');
    const erin = await peer('erin');
    const here = offsetKm(ORIGIN, 0.5);
    await join(carol, here, { discoverable: true });
    await join(dan, ORIGIN, { seeStrangers: true });
    await join(erin, ORIGIN, { seeStrangers: true });
    for (let i = 1; i <= 3; i++) {
      move(carol, offsetKm(here, i * 0.8));
      await carol.sync();
    }
    // Erin, allowed, sees Carol: so Carol was published and Dan was asked about.
    await erin.waitFor((f) => f.type === 'stranger_update');
    await dan.sync();
    expect(asked).toContain('dan>carol');
    const carolCells = new Set(erin.ofType('stranger_update').flatMap((f) => f.strangers.flatMap((s) => [s.lat, s.lon])));
    for (const text of dan.raw) {
      expect(text).not.toContain('carol');
      expect(text).not.toContain(pseudonym('dan', 'carol'));
      expect(text).not.toMatch(/"type":"stranger_/);
      for (const value of numbersIn(text)) expect(carolCells.has(value), `${value} in ${text}`).toBe(false);
    }
  });

  it('caps the list at the nearest maxPerViewer, displacing the farthest when a nearer one appears', async () => {
    await server({ maxPerViewer: 3 });
    const viewer = await peer('viewer');
    await join(viewer, ORIGIN, { seeStrangers: true });
    const strangers: RawPeer[] = [];
    // 1 km apart northwards: each in its own display cell (about 0.61 km tall here) and its own
    // distance band (the list is ordered by the whole km shown).
    for (const [i, km] of [1.5, 2.5, 3.5, 4.5].entries()) {
      const p = await peer(`s${i}`);
      strangers.push(p);
      await join(p, offsetKm(ORIGIN, km), { discoverable: true });
    }
    await viewer.sync();
    await viewer.waitFor(() => listOf(viewer).size === 3);
    const ids = (names: string[]) => new Set(names.map((name) => pseudonym('viewer', name)));
    expect(new Set(listOf(viewer).keys())).toEqual(ids(['s0', 's1', 's2']));

    // A nearer stranger: the farthest of the three leaves, displaced.
    const near = await peer('near');
    await join(near, offsetKm(ORIGIN, 0.5), { discoverable: true });
    const left = await viewer.waitFor((f) => f.type === 'stranger_left');
    expect(left).toEqual({ type: 'stranger_left', id: pseudonym('viewer', 's2'), reason: StrangerLeftReason.DISPLACED });
    await viewer.sync();
    expect(new Set(listOf(viewer).keys())).toEqual(ids(['near', 's0', 's1']));
    const sorted = [...listOf(viewer).values()].sort((a, b) => a.distanceKm - b.distanceKm);
    expect(sorted.map((s) => s.distanceKm)).toEqual([1, 2, 3]);
    // Every stranger_update respected the cap.
    for (const frame of viewer.ofType('stranger_update')) expect(frame.strangers.length).toBeLessThanOrEqual(3);
  });

  it('shows a friend only as a friend, and never the viewer to itself', async () => {
    await server();
    env.graph.link('carol', 'dan');
    const carol = await peer('carol');
    const dan = await peer('dan');
    const erin = await peer('erin');
    await join(carol, offsetKm(ORIGIN, 1), { discoverable: true, seeStrangers: true });
    await join(dan, ORIGIN, { discoverable: true, seeStrangers: true });
    await join(erin, offsetKm(ORIGIN, 0.2), { seeStrangers: true });
    move(carol, offsetKm(ORIGIN, 1.1));
    move(dan, offsetKm(ORIGIN, 0.1));
    await dan.waitFor((f) => f.type === 'friend_update' && f.friends.some((friend) => friend.userId === 'carol'));
    // Erin sees both as strangers…
    await erin.waitFor(() => listOf(erin).size === 2);
    await carol.sync();
    await dan.sync();
    // …but Carol and Dan, friends, never see each other as strangers, nor themselves.
    expect(listOf(dan).size).toBe(0);
    expect(listOf(carol).size).toBe(0);
    expect(dan.ofType('stranger_update')).toEqual([]);
    expect(carol.ofType('stranger_update')).toEqual([]);
  });

  it('keeps a nearby stranger visible while the viewer crosses a cell edge', async () => {
    await server();
    // A meridian between two precision-5 cells near the origin (cells are 360/8192° wide).
    const width = 360 / 8192;
    const edge = -180 + Math.ceil((ORIGIN.lon + 180) / width) * width;
    const carol = await peer('carol');
    const dan = await peer('dan');
    await join(carol, { lat: ORIGIN.lat, lon: edge + 0.004 }, { discoverable: true });
    await join(dan, { lat: ORIGIN.lat, lon: edge - 0.01 }, { seeStrangers: true });
    const id = pseudonym('dan', 'carol');
    await dan.waitFor(() => listOf(dan).has(id));
    for (const lon of [edge - 0.002, edge + 0.002, edge + 0.01, edge - 0.01, edge + 0.001]) {
      move(dan, { lat: ORIGIN.lat, lon });
      await dan.sync();
      expect(listOf(dan).has(id), `at ${lon - edge}° from the edge`).toBe(true);
    }
    expect(dan.ofType('stranger_left')).toEqual([]);
    // Carol crosses it the other way: she stays in Dan's list too.
    move(carol, { lat: ORIGIN.lat, lon: edge - 0.004 });
    await carol.sync();
    await dan.waitFor((f) => f.type === 'stranger_update' && f.strangers[0]!.lon < edge);
    await dan.sync();
    expect(dan.ofType('stranger_left')).toEqual([]);
    expect(listOf(dan).has(id)).toBe(true);
  });

  it('answers every discovery frame with discovery_state, and hides a stranger who opts out', async () => {
    await server();
    const carol = await peer('carol');
    const dan = await peer('dan');
    await join(carol, offsetKm(ORIGIN, 1), { discoverable: true });
    await join(dan, ORIGIN, { seeStrangers: true });
    move(carol, offsetKm(ORIGIN, 1.01));
    await dan.waitFor(() => listOf(dan).size === 1);
    const from = carol.frames.length;
    carol.send({ type: 'discovery', discoverable: false });
    expect(await carol.waitFor((f) => f.type === 'discovery_state', from)).toEqual({
      type: 'discovery_state',
      discoverable: false,
      seeStrangers: false,
    });
    expect(await dan.waitFor((f) => f.type === 'stranger_left')).toEqual({
      type: 'stranger_left',
      id: pseudonym('dan', 'carol'),
      reason: StrangerLeftReason.HIDDEN,
    });
    // Her next moves reach nobody.
    const mark = dan.frames.length;
    move(carol, offsetKm(ORIGIN, 1.5));
    await carol.sync();
    await dan.sync();
    expect(dan.frames.slice(mark).filter((f) => f.type.startsWith('stranger_'))).toEqual([]);
    // Dan stops seeing: no stranger frames after it, and his snapshot says so.
    dan.send({ type: 'discovery', seeStrangers: false });
    await dan.waitFor((f) => f.type === 'discovery_state' && !f.seeStrangers);
  });
});

describe('nearby people: bad input', () => {
  it('refuses a discovery frame with no field or a field of the wrong type (invalid_frame)', async () => {
    await server();
    const carol = await peer('carol');
    await join(carol, ORIGIN, { discoverable: false });
    for (const frame of [{ type: 'discovery' }, { type: 'discovery', discoverable: 'yes' }, { type: 'discovery', seeStrangers: 1 }]) {
      const from = carol.frames.length;
      carol.send(frame);
      expect(await carol.waitFor((f) => f.type === 'error', from)).toMatchObject({
        code: ErrorCode.INVALID_FRAME,
        frameType: 'discovery',
      });
    }
    await carol.sync();
    expect(carol.ofType('discovery_state')).toHaveLength(1); // only the one after init
  });

  it('refuses an opt-in the host forbids (not_allowed): the setting stays off, the rest applies', async () => {
    await server({ allow: (userId, what) => !(userId === 'carol' && what === 'discoverable') });
    const carol = await peer('carol');
    const from = carol.frames.length;
    carol.send({ type: 'init', v: 1, location: at(ORIGIN.lat, ORIGIN.lon), discoverable: true, seeStrangers: true });
    const snapshot = await carol.waitFor((f) => f.type === 'snapshot', from);
    expect(snapshot).toMatchObject({ discoverable: false, seeStrangers: true });
    expect(await carol.waitFor((f) => f.type === 'error', from)).toMatchObject({ code: ErrorCode.NOT_ALLOWED, frameType: 'init' });
    expect(await carol.waitFor((f) => f.type === 'discovery_state', from)).toEqual({
      type: 'discovery_state',
      discoverable: false,
      seeStrangers: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // one discovery frame per second
    const again = carol.frames.length;
    carol.send({ type: 'discovery', discoverable: true });
    expect(await carol.waitFor((f) => f.type === 'error', again)).toMatchObject({
      code: ErrorCode.NOT_ALLOWED,
      frameType: 'discovery',
    });
    expect(await carol.waitFor((f) => f.type === 'discovery_state', again)).toEqual({
      type: 'discovery_state',
      discoverable: false,
      seeStrangers: true,
    });
    // Never published: another user who sees strangers finds nobody.
    const dan = await peer('dan');
    await join(dan, ORIGIN, { seeStrangers: true });
    move(carol, offsetKm(ORIGIN, 0.2));
    await carol.sync();
    await dan.sync();
    expect(dan.ofType('stranger_update')).toEqual([]);
  });

  it('refuses opt-ins on a server without nearby people, and reports both off', async () => {
    env = await startServer();
    const carol = await peer('carol');
    const from = carol.frames.length;
    carol.send({ type: 'init', v: 1, discoverable: true });
    const snapshot = await carol.waitFor((f) => f.type === 'snapshot', from);
    expect(snapshot).toMatchObject({ discoverable: false, seeStrangers: false });
    expect(await carol.waitFor((f) => f.type === 'error', from)).toMatchObject({ code: ErrorCode.NOT_ALLOWED, frameType: 'init' });
    const again = carol.frames.length;
    carol.send({ type: 'discovery', seeStrangers: true });
    expect(await carol.waitFor((f) => f.type === 'error', again)).toMatchObject({ code: ErrorCode.NOT_ALLOWED, frameType: 'discovery' });
    expect(await carol.waitFor((f) => f.type === 'discovery_state', again)).toEqual({
      type: 'discovery_state',
      discoverable: false,
      seeStrangers: false,
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, ErrorCode, Limits, PROTOCOL_VERSION, decodeServerFrame } from '@nearby/protocol';
import { startServer, type ServerResource } from './helpers/server-resource.js';
import { RawPeer, at } from './helpers/raw-peer.js';
import { ORIGIN, offsetKm } from './helpers/geo.js';

/**
 * Every kind of bad input gets its documented error or close code, and throughout, two
 * well-behaved friends keep exchanging updates.
 */
let env: ServerResource;
let alice: RawPeer;
let bob: RawPeer;
let bobSeq = 0;
let attackers = 0;

beforeAll(async () => {
  // Generous budgets: Bob moves once per test, and must never be throttled himself.
  env = await startServer({
    rateLimit: {
      frames: { capacity: 200, refillPerSecond: 100 },
      locations: { capacity: 200, refillPerSecond: 100 },
      maxConsecutiveDrops: 30,
    },
  });
  env.graph.link('alice', 'bob');
  alice = await RawPeer.connect(env.urlFor('alice'));
  bob = await RawPeer.connect(env.urlFor('bob'));
  await alice.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
  await bob.init({ location: at(ORIGIN.lat, ORIGIN.lon + 0.001) });
});

afterAll(async () => {
  alice.socket.terminate();
  bob.socket.terminate();
  await env.close();
});

/** Bob moves; Alice must receive it. Proves the bad input did not disturb other users. */
async function othersStillServed(): Promise<void> {
  const mark = alice.frames.length;
  const bobMark = bob.frames.length;
  const point = offsetKm(ORIGIN, 0.001 * ++bobSeq);
  bob.send({ type: 'location', seq: bobSeq, samples: [at(point.lat, point.lon)] });
  await alice
    .waitFor((f) => f.type === 'friend_update' && f.friends.some((x) => x.userId === 'bob' && x.lat === point.lat), mark)
    .catch((error: Error) => {
      throw new Error(`${error.message}\nbob received: ${bob.raw.slice(bobMark).join('\n')}`);
    });
}

async function attacker(): Promise<RawPeer> {
  return RawPeer.connect(env.urlFor(`mallory-${++attackers}`));
}

async function initialized(): Promise<RawPeer> {
  const peer = await attacker();
  await peer.init({ location: at(ORIGIN.lat, ORIGIN.lon) });
  return peer;
}

const sample = at(ORIGIN.lat, ORIGIN.lon);

describe('fatal input closes only that connection', () => {
  it.each([
    ['non-JSON text', 'this is not json'],
    ['a JSON array', '[1,2,3]'],
    ['a NaN literal', '{"type":"radius","radiusKm":NaN}'],
  ])('%s → error bad_json, close 4000', async (_name, text) => {
    const peer = await initialized();
    peer.sendRaw(text);
    const error = await peer.waitFor((f) => f.type === 'error');
    expect(error).toMatchObject({ code: ErrorCode.BAD_JSON });
    expect((await peer.closed).code).toBe(CloseCode.PROTOCOL_VIOLATION);
    await othersStillServed();
  });

  it('a binary frame → error bad_json, close 4000', async () => {
    const peer = await initialized();
    peer.sendRaw(Buffer.from([1, 2, 3]));
    expect(await peer.waitFor((f) => f.type === 'error')).toMatchObject({ code: ErrorCode.BAD_JSON });
    expect((await peer.closed).code).toBe(CloseCode.PROTOCOL_VIOLATION);
    await othersStillServed();
  });

  it('an oversized frame → close 1009', async () => {
    const peer = await initialized();
    peer.sendRaw(JSON.stringify({ type: 'ping', pad: 'x'.repeat(17 * 1024) }));
    expect((await peer.closed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    await othersStillServed();
  });

  it('an unsupported protocol version → error unsupported_version, close 4002', async () => {
    const peer = await attacker();
    peer.send({ type: 'init', v: PROTOCOL_VERSION + 1 });
    expect(await peer.waitFor((f) => f.type === 'error')).toMatchObject({ code: ErrorCode.UNSUPPORTED_VERSION });
    expect((await peer.closed).code).toBe(CloseCode.UNSUPPORTED_VERSION);
    await othersStillServed();
  });
});

describe('invalid frames get an error and the connection stays open', () => {
  const cases: Array<[string, object, string, number?]> = [
    ['an unknown frame type', { type: 'teleport', to: 'mars' }, ErrorCode.UNKNOWN_TYPE],
    ['a frame without type', { radiusKm: 3 }, ErrorCode.UNKNOWN_TYPE],
    ['a string latitude', { type: 'location', seq: 5, samples: [{ ...sample, lat: 'north' }] }, ErrorCode.INVALID_FRAME, 5],
    ['a missing longitude', { type: 'location', seq: 6, samples: [{ lat: 1, timestamp: 1 }] }, ErrorCode.INVALID_FRAME, 6],
    ['a missing seq', { type: 'location', samples: [sample] }, ErrorCode.INVALID_FRAME],
    ['a null sharing flag', { type: 'sharing', enabled: null }, ErrorCode.INVALID_FRAME],
    ['latitude 91', { type: 'location', seq: 7, samples: [{ ...sample, lat: 91 }] }, ErrorCode.INVALID_LOCATION, 7],
    ['longitude -181', { type: 'location', seq: 8, samples: [{ ...sample, lon: -181 }] }, ErrorCode.INVALID_LOCATION, 8],
    [
      'too many samples',
      { type: 'location', seq: 9, samples: Array(Limits.MAX_SAMPLES_PER_FRAME + 1).fill(sample) },
      ErrorCode.INVALID_FRAME,
      9,
    ],
    ['radius 0', { type: 'radius', radiusKm: 0 }, ErrorCode.INVALID_RADIUS],
    ['a negative radius', { type: 'radius', radiusKm: -3 }, ErrorCode.INVALID_RADIUS],
    ['a radius above maxRadiusKm', { type: 'radius', radiusKm: 51 }, ErrorCode.INVALID_RADIUS],
  ];

  it.each(cases)('%s', async (_name, frame, code, seq) => {
    const peer = await initialized();
    const mark = peer.frames.length;
    peer.send(frame);
    const error = await peer.waitFor((f) => f.type === 'error', mark);
    expect(error).toMatchObject({ code, ...(seq === undefined ? {} : { seq }) });
    if (error.type === 'error') expect(error.message.length).toBeGreaterThan(5);
    // Still open and still served.
    await peer.sync();
    await othersStillServed();
    peer.socket.terminate();
  });

  it.each([
    ['a latitude of 1e309 (Infinity once parsed)', '{"type":"location","seq":11,"samples":[{"lat":1e309,"lon":0,"timestamp":1}]}'],
    ['a longitude of -1e309', '{"type":"location","seq":11,"samples":[{"lat":0,"lon":-1e309,"timestamp":1}]}'],
  ])('%s → invalid_location with its seq: out of range, not of the wrong type', async (_name, text) => {
    const peer = await initialized();
    const mark = peer.frames.length;
    peer.sendRaw(text);
    expect(await peer.waitFor((f) => f.type === 'error', mark)).toMatchObject({ code: ErrorCode.INVALID_LOCATION, seq: 11 });
    await othersStillServed();
    peer.socket.terminate();
  });

  it.each([['2147483648'], ['1e+308'], ['-1'], ['2.5']])('a seq of %s is out of bounds: the error does not echo it and is itself valid', async (seqText) => {
    const peer = await initialized();
    const mark = peer.raw.length;
    peer.sendRaw(`{"type":"location","seq":${seqText},"samples":[${JSON.stringify(sample)}]}`);
    await peer.waitFor((f) => f.type === 'error', mark);
    const text = peer.raw.slice(mark).find((raw) => raw.includes('"error"'))!;
    expect(JSON.parse(text)).toMatchObject({ type: 'error', code: ErrorCode.INVALID_FRAME, frameType: 'location' });
    expect(JSON.parse(text)).not.toHaveProperty('seq');
    expect(decodeServerFrame(text)).toMatchObject({ ok: true });
    peer.socket.terminate();
  });

  it('an out-of-range radius in init is refused and the default applies', async () => {
    const peer = await attacker();
    peer.send({ type: 'init', v: PROTOCOL_VERSION, radiusKm: 5000 });
    expect(await peer.waitFor((f) => f.type === 'error')).toMatchObject({ code: ErrorCode.INVALID_RADIUS });
    expect(await peer.waitFor((f) => f.type === 'snapshot')).toMatchObject({ radiusKm: 8 });
    peer.socket.terminate();
  });

  it('an invalid location sample is not stored and not acknowledged', async () => {
    const peer = await initialized();
    const mark = peer.frames.length;
    peer.send({ type: 'location', seq: 77, samples: [sample, { ...sample, lat: 1000 }] });
    await peer.waitFor((f) => f.type === 'error' && f.seq === 77, mark);
    await peer.sync();
    expect(peer.frames.slice(mark).some((f) => f.type === 'ack')).toBe(false);
    peer.socket.terminate();
  });
});

describe('frames before init', () => {
  it.each([
    ['location', { type: 'location', seq: 3, samples: [sample] }],
    ['radius', { type: 'radius', radiusKm: 3 }],
    ['sharing', { type: 'sharing', enabled: false }],
  ])('%s before init → not_initialized, and init still works after', async (type, frame) => {
    const peer = await attacker();
    peer.send(frame);
    expect(await peer.waitFor((f) => f.type === 'error')).toMatchObject({ code: ErrorCode.NOT_INITIALIZED, frameType: type });
    await peer.init({ location: sample });
    peer.socket.terminate();
  });

  it('ping before init is answered', async () => {
    const peer = await attacker();
    await peer.sync();
    peer.socket.terminate();
  });
});

describe('floods', () => {
  /** A clock that never moves: buckets never refill, so counts are exact whatever the machine's speed. */
  const frozen = { now: () => 1_800_000_000_000, setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };

  it('frames beyond the rate limit are dropped with one notice, then the socket is closed 4029; friends are unaffected', async () => {
    const local = await startServer({
      timers: frozen,
      rateLimit: { frames: { capacity: 10, refillPerSecond: 5 }, maxConsecutiveDrops: 30 },
    });
    try {
      local.graph.link('ann', 'ben');
      const ann = await RawPeer.connect(local.urlFor('ann'));
      const ben = await RawPeer.connect(local.urlFor('ben'));
      await ann.init({ location: at(ORIGIN.lat, ORIGIN.lon, frozen.now()) });
      await ben.init({ location: at(ORIGIN.lat, ORIGIN.lon + 0.001, frozen.now()) });
      const flooder = await RawPeer.connect(local.urlFor('flooder'));
      await flooder.init();
      for (let i = 0; i < 100; i++) flooder.send({ type: 'ping', id: i });
      expect((await flooder.closed).code).toBe(CloseCode.RATE_LIMITED);
      expect(flooder.count('pong')).toBe(9); // capacity 10, one spent on init
      expect(flooder.ofType('error').filter((f) => f.code === ErrorCode.RATE_LIMITED)).toHaveLength(1);
      expect(local.server.stats().framesDropped).toBe(31);

      const mark = ann.frames.length;
      ben.send({ type: 'location', seq: 1, samples: [at(ORIGIN.lat + 0.001, ORIGIN.lon, frozen.now())] });
      await ann.waitFor((f) => f.type === 'friend_update' && f.friends.some((x) => x.userId === 'ben'), mark);
      ann.socket.terminate();
      ben.socket.terminate();
    } finally {
      await local.close();
    }
  });

  it('location frames beyond their own budget are refused with their seq, so the client resends them', async () => {
    const local = await startServer({ timers: frozen, rateLimit: { locations: { capacity: 2, refillPerSecond: 1 } } });
    try {
      const peer = await RawPeer.connect(local.urlFor('eve'));
      await peer.init();
      for (let seq = 1; seq <= 3; seq++) peer.send({ type: 'location', seq, samples: [at(ORIGIN.lat, ORIGIN.lon, 1000 + seq)] });
      const refused = await peer.waitFor((f) => f.type === 'error' && f.code === ErrorCode.RATE_LIMITED);
      expect(refused).toMatchObject({ seq: 3 });
      await peer.waitFor((f) => f.type === 'ack' && f.seq === 2);
      expect(peer.ofType('ack').map((f) => f.seq).sort()).toEqual([1, 2]);
      peer.socket.terminate();
    } finally {
      await local.close();
    }
  });
});

describe('authentication', () => {
  it('a refused token completes the upgrade and closes with 4001', async () => {
    const peer = new RawPeer(`${env.url}?access_token=forged`);
    expect((await peer.closed).code).toBe(CloseCode.UNAUTHORIZED);
    expect(peer.frames).toEqual([]);
  });

  it('no token at all closes with 4001', async () => {
    const peer = new RawPeer(env.url);
    expect((await peer.closed).code).toBe(CloseCode.UNAUTHORIZED);
  });

  it('an authenticate that throws closes with 1011 and reports the error', async () => {
    const local = await startServer({
      authenticate: () => {
        throw new Error('identity provider down');
      },
    });
    try {
      const peer = new RawPeer(local.url);
      expect((await peer.closed).code).toBe(CloseCode.INTERNAL_ERROR);
      expect(local.errors).toHaveLength(1);
    } finally {
      await local.close();
    }
  });

  it('the user id comes only from authenticate: frames cannot name another user', async () => {
    const peer = await initialized();
    peer.send({ type: 'init', v: PROTOCOL_VERSION, userId: 'alice', location: sample });
    const snapshot = await peer.waitFor((f) => f.type === 'snapshot', 1);
    expect(snapshot).toMatchObject({ userId: expect.stringMatching(/^mallory-/) });
    peer.socket.terminate();
  });

  it('upgrades on another path are refused with 404', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${env.port}/elsewhere`);
    const status = await new Promise<number | undefined>((resolve) => {
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode));
      socket.on('error', () => resolve(undefined));
    });
    expect(status).toBe(404);
  });
});

describe('the friend graph failing', () => {
  it('closes the connection with 1011 and an internal error, and the next attempt succeeds', async () => {
    env.graph.failFor.add('frank');
    const peer = await RawPeer.connect(env.urlFor('frank'));
    peer.send({ type: 'init', v: PROTOCOL_VERSION });
    expect(await peer.waitFor((f) => f.type === 'error')).toMatchObject({ code: ErrorCode.INTERNAL });
    expect((await peer.closed).code).toBe(CloseCode.INTERNAL_ERROR);
    env.graph.failFor.delete('frank');
    const retry = await RawPeer.connect(env.urlFor('frank'));
    await retry.init();
    retry.socket.terminate();
  });
});

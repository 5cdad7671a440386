import { describe, expect, it } from 'vitest';
import { MapConfigError, parseConfig } from './config.js';
import { formatAge, formatDistance, opacityForAge } from './format.js';

const BASE = 'server=ws://127.0.0.1:8080/nearby&user=alice&token=t';

describe('parseConfig', () => {
  it('reads server, user, token and defaults', () => {
    expect(parseConfig(`?${BASE}`)).toEqual({
      server: 'ws://127.0.0.1:8080/nearby',
      user: 'alice',
      token: 't',
      radiusKm: undefined,
      inactiveAfterMs: 600_000,
      tiles: undefined,
      viewer: { kind: 'none' },
    });
  });

  it('takes tiles from the query before the build default', () => {
    expect(parseConfig(`?${BASE}`, 'https://tiles.example/{z}/{x}/{y}.png').tiles).toBe('https://tiles.example/{z}/{x}/{y}.png');
    expect(parseConfig(`?${BASE}&tiles=https://other.example/{z}/{x}/{y}.png`, 'https://tiles.example/{z}/{x}/{y}.png').tiles).toBe(
      'https://other.example/{z}/{x}/{y}.png',
    );
  });

  it('picks the viewer source: fixed position, then geolocation, then a polled URL', () => {
    expect(parseConfig(`?${BASE}&lat=37.5&lon=127&geolocation=1`).viewer).toEqual({ kind: 'fixed', lat: 37.5, lon: 127 });
    expect(parseConfig(`?${BASE}&geolocation=1&viewer=/viewer.json`).viewer).toEqual({ kind: 'geolocation' });
    expect(parseConfig(`?${BASE}&viewer=/viewer.json`).viewer).toEqual({ kind: 'poll', url: '/viewer.json' });
  });

  it.each([
    ['no server', 'user=a&token=t', /^server must be a ws:\/\/ or wss:\/\/ URL/],
    ['an http server', 'server=http://x/nearby&token=t', /^server must be/],
    ['no token', 'server=ws://x/nearby', /^token is required$/],
    ['a latitude out of range', `${BASE}&lat=91&lon=0`, /^lat must be a number in \[-90, 90\], got "91"$/],
    ['lat without lon', `${BASE}&lat=1`, /^lat and lon go together$/],
    ['a radius of zero', `${BASE}&radius=0`, /^radius must be a number in \[0\.1, 50\]/],
    ['a tile URL that is not http', `${BASE}&tiles=file:///x`, /^tiles must be an http/],
  ])('refuses %s with a MapConfigError naming the parameter', (_, query, message) => {
    expect(() => parseConfig(`?${query}`)).toThrow(MapConfigError);
    expect(() => parseConfig(`?${query}`)).toThrow(message);
  });
});

describe('labels and fading', () => {
  it('formats ages and distances', () => {
    expect(formatAge(12_400)).toBe('12 s ago');
    expect(formatAge(-50)).toBe('0 s ago');
    expect(formatAge(184_000)).toBe('3 min 4 s ago');
    expect(formatAge(3_720_000)).toBe('1 h 2 min ago');
    expect(formatDistance(1.46)).toBe('1.5 km');
    expect(formatDistance(0.3504)).toBe('0.4 km');
  });

  it('fades linearly from 1 to 0.25 as the age reaches inactiveAfterMs, and no further', () => {
    expect(opacityForAge(0, 600_000)).toBe(1);
    expect(opacityForAge(300_000, 600_000)).toBeCloseTo(0.625);
    expect(opacityForAge(600_000, 600_000)).toBe(0.25);
    expect(opacityForAge(900_000, 600_000)).toBe(0.25);
    expect(opacityForAge(-1000, 600_000)).toBe(1);
  });
});

// How long the geohash work of nearby people takes (docs/server.md, "Nearby people"):
// `node scripts/measure-geocells.mjs` from packages/server. A publish encodes two cells; a
// viewer that changes cell encodes one and computes its 8 neighbours.
import ngeohash from 'ngeohash';

const N = 200_000;
const points = Array.from({ length: N }, (_, i) => [37 + (i % 1000) / 1000, 126 + (i % 997) / 997]);
let sink = 0;
const perCall = (started) => (((performance.now() - started) / N) * 1e3).toFixed(2);
for (let round = 1; round <= 3; round++) {
  let started = performance.now();
  for (const [lat, lon] of points) sink += ngeohash.encode(lat, lon, 5).length + ngeohash.encode(lat, lon, 6).length;
  const publish = perCall(started);
  started = performance.now();
  for (const [lat, lon] of points) sink += ngeohash.neighbors(ngeohash.encode(lat, lon, 5)).length;
  const block = perCall(started);
  console.log(`round ${round}: two encodes (a publish) ${publish} µs, encode + 8 neighbours (a viewer's block) ${block} µs`);
}
if (sink === 0) console.log('nothing measured');

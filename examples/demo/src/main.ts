import { parseArgs } from 'node:util';
import { DEFAULT_DEMO_OPTIONS, startDemo } from './demo.js';
import { renderView } from './render.js';
import { WEB_MAP_DIR, buildDemoMap, serveDemoMap, type DemoMap } from './web-map.js';

const DEFAULT_MAP_PORT = 5173;

const { values } = parseArgs({
  options: {
    users: { type: 'string' },
    seed: { type: 'string' },
    speedup: { type: 'string' },
    radius: { type: 'string' },
    duration: { type: 'string' },
    'history-dir': { type: 'string' },
    'map-port': { type: 'string' },
    'no-map': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help === true) {
  console.log(`Usage: pnpm demo [--users N] [--seed N] [--speedup N] [--radius KM] [--duration SECONDS]
                 [--history-dir DIR] [--map-port PORT] [--no-map]

Starts a Nearby server on the in-memory default and a crowd of walking users, and shows what
the user "you" sees: in the terminal, and on a live map in the browser at the printed URL
(examples/web-map, built with Vite into ${WEB_MAP_DIR} at start; no tile server needed).
Runs until Ctrl+C, or for --duration seconds.

  --users N          simulated users besides "you" (default ${DEFAULT_DEMO_OPTIONS.users})
  --seed N           seed of the random crowd (default ${DEFAULT_DEMO_OPTIONS.seed})
  --speedup N        simulated seconds per real second (default ${DEFAULT_DEMO_OPTIONS.speedup})
  --radius KM        the radius of every user (default ${DEFAULT_DEMO_OPTIONS.radiusKm})
  --duration SECONDS stop after this long
  --history-dir DIR  where the embedded PostgreSQL (PGlite) keeps location history
                     (default ${DEFAULT_DEMO_OPTIONS.historyDir})
  --map-port PORT    port of the web map on 127.0.0.1 (default ${DEFAULT_MAP_PORT}; a free one if taken)
  --no-map           terminal view only: neither build nor serve the web map`);
  process.exit(0);
}

function numberOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    console.error(`--${name} must be a number in [${min}, ${max}], got ${raw}`);
    process.exit(2);
  }
  return value;
}

const options = {
  ...DEFAULT_DEMO_OPTIONS,
  users: numberOption('users', values.users, DEFAULT_DEMO_OPTIONS.users, 1, 2000),
  seed: numberOption('seed', values.seed, DEFAULT_DEMO_OPTIONS.seed, 0, 2 ** 31),
  speedup: numberOption('speedup', values.speedup, DEFAULT_DEMO_OPTIONS.speedup, 1, 120),
  radiusKm: numberOption('radius', values.radius, DEFAULT_DEMO_OPTIONS.radiusKm, 0.1, 50),
  historyDir: values['history-dir'] ?? DEFAULT_DEMO_OPTIONS.historyDir,
};
const durationMs = values.duration === undefined ? undefined : numberOption('duration', values.duration, 0, 1, 86_400) * 1000;
const mapPort = numberOption('map-port', values['map-port'], DEFAULT_MAP_PORT, 0, 65_535);
const withMap = values['no-map'] !== true;

// What the demo is doing while it starts, on stderr (stdout carries the view).
const started = performance.now();
const progress = (step: string) => {
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${step}\n`);
};

// The map builds while the server starts.
if (withMap) progress(`building the web map into ${WEB_MAP_DIR}…`);
const mapBuild = withMap ? buildDemoMap().then((dir) => (progress('web map built'), dir)) : undefined;
mapBuild?.catch(() => {});
const demo = await startDemo(options, progress);
let map: DemoMap | undefined;
if (mapBuild !== undefined) {
  try {
    const dir = await mapBuild;
    map = await serveDemoMap({ dir, port: mapPort, serverUrl: demo.url, user: demo.you, position: demo.yourPosition, progress });
    progress(`Map: ${map.url}`);
  } catch (error) {
    progress(`the web map is not available (${error instanceof Error ? error.message : String(error)}); the terminal view runs without it`);
  }
}
progress('ready');

const tty = process.stdout.isTTY === true;
const render = () => {
  const text = renderView(demo.view(), tty, map?.url);
  // On a terminal, redraw in place; otherwise (piped, CI) print a frame per second.
  process.stdout.write(tty ? `\x1b[H\x1b[2J${text}\n` : `${text}\n\n`);
};
render();
const renderTimer = setInterval(render, tty ? 500 : 1000);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(renderTimer);
  render();
  await map?.close();
  await demo.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
if (durationMs !== undefined) setTimeout(() => void stop(), durationMs);

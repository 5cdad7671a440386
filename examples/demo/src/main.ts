import { parseArgs } from 'node:util';
import { DEFAULT_DEMO_OPTIONS, startDemo } from './demo.js';
import { renderView } from './render.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string' },
    seed: { type: 'string' },
    speedup: { type: 'string' },
    radius: { type: 'string' },
    duration: { type: 'string' },
    'history-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help === true) {
  console.log(`Usage: pnpm demo [--users N] [--seed N] [--speedup N] [--radius KM] [--duration SECONDS] [--history-dir DIR]

Starts a Nearby server on the in-memory default and a crowd of walking users, and shows what
the user "you" sees. Runs until Ctrl+C, or for --duration seconds. Location history is kept
in an embedded PostgreSQL (PGlite) in --history-dir (default .nearby-demo/history).`);
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

const demo = await startDemo(options);
const tty = process.stdout.isTTY === true;
const render = () => {
  const text = renderView(demo.view(), tty);
  // On a terminal, redraw in place; otherwise (piped, CI) print a frame per second.
  process.stdout.write(tty ? `\x1b[H\x1b[2J${text}\n` : `${text}\n\n`);
};
const renderTimer = setInterval(render, tty ? 500 : 1000);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(renderTimer);
  render();
  await demo.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
if (durationMs !== undefined) setTimeout(() => void stop(), durationMs);

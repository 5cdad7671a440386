import type { DemoView } from './demo.js';

const BOLD = '\x1b[1m';
const DIM = '\x1b[2m';
const GREEN = '\x1b[32m';
const RESET = '\x1b[0m';

function age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return seconds < 60 ? `${seconds} s ago` : `${Math.floor(seconds / 60)} min ${seconds % 60} s ago`;
}

/** Renders what the chosen user sees as lines of text (colour codes only when `colour`). */
export function renderView(view: DemoView, colour: boolean, mapUrl?: string): string {
  const b = colour ? BOLD : '';
  const d = colour ? DIM : '';
  const g = colour ? GREEN : '';
  const r = colour ? RESET : '';
  const lines: string[] = [];
  lines.push(`${b}Nearby demo${r} ${d}— in-memory adapters, ${view.url}${r}`);
  if (mapUrl !== undefined) lines.push(`Map: ${mapUrl}`);
  lines.push(
    `You are ${b}"${view.you}"${r}: ${view.friendCount} friends, radius ${view.radiusKm ?? '?'} km, ` +
      `sharing ${view.sharing ? 'on' : 'off'}, connection ${view.state === 'connected' ? g : ''}${view.state}${r}`,
  );
  lines.push('');
  lines.push(`${b}  Friend        Distance     Last update${r}`);
  if (view.friends.length === 0) lines.push(`${d}  (no friends within your radius yet)${r}`);
  for (const friend of view.friends) {
    lines.push(
      `  ${friend.userId.padEnd(12)}  ${`${friend.distanceKm.toFixed(2)} km`.padStart(9)}    ${age(view.now - friend.updatedAt)}`,
    );
  }
  lines.push('');
  lines.push(`${b}Recent${r}`);
  for (const event of view.events) lines.push(`  ${event}`);
  lines.push('');
  const s = view.stats;
  lines.push(
    `${d}Server: ${s.connections} connections · ${s.channels} channels · ${s.locationFrames} location frames · ` +
      `${s.friendUpdatesQueued} friend updates sent · ${view.historySamples} samples stored in ${view.historyDir} · ` +
      `your unacknowledged samples: ${view.pendingSamples}${r}`,
  );
  return lines.join('\n');
}

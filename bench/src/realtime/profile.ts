/**
 * Summary of a V8 `.cpuprofile` written by the server child's `--cpu-prof`: self time per
 * function and per source area (the Nearby packages, ws, ioredis, socket.io, node internals,
 * GC …), restricted to the measured window (the child reports process.hrtime at the window's
 * edges; V8 profile timestamps use the same monotonic clock).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Sampled time inside the window, ms. */
  windowMs: number;
  functions: Array<{ name: string; where: string; selfMs: number; share: number }>;
  areas: Array<{ area: string; selfMs: number; share: number }>;
}

function areaOf(url: string, name: string): string {
  if (url === '') {
    if (name === '(garbage collector)') return 'GC';
    if (name === '(idle)' || name === '(program)') return name;
    return 'native / V8';
  }
  const pkg = /packages\/([^/]+)\/src\/(.*)$/.exec(url);
  if (pkg !== null) return `@nearby/${pkg[1]} ${pkg[2]!.split('/').slice(0, -1).join('/') || '.'}`.trim();
  const dep = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep !== null) return dep[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  if (url.includes('/bench/src/')) return 'bench harness';
  return url.split('/').slice(-2).join('/');
}

function shortWhere(url: string, line: number): string {
  const trimmed = url.replace(/^file:\/\//, '').replace(/^.*?\/(packages|node_modules|bench)\//, '$1/').replace(/node_modules\/\.pnpm\/[^/]+\/node_modules\//, 'node_modules/');
  return trimmed === '' ? '' : `${trimmed}:${line + 1}`;
}

export function summarizeProfile(file: string, windowStartUs: number | undefined, windowEndUs: number | undefined, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (windowStartUs !== undefined && t < windowStartUs) continue;
    if (windowEndUs !== undefined && t >= windowEndUs) continue;
    // Attribute the interval up to the next sample to this one.
    const next = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + next);
    total += next;
  }
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const name = frame.functionName || '(anonymous)';
    const where = shortWhere(frame.url, frame.lineNumber);
    const key = `${name}@${where}`;
    const entry = functions.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const area = areaOf(frame.url, name);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const share = (us: number) => (total === 0 ? 0 : us / total);
  return {
    file,
    windowMs: total / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, share: share(f.us) })),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, us]) => ({ area, selfMs: us / 1000, share: share(us) })),
  };
}

export interface HeapSummary {
  file: string;
  totalBytes: number;
  /** Self size by constructor (objects, closures) or by V8 type (strings, arrays, code …), largest first. */
  entries: Array<{ name: string; count: number; bytes: number }>;
}

/** Self size by constructor of a `.heapsnapshot` (v8.writeHeapSnapshot). */
export function summarizeHeapSnapshot(file: string, top = 25): HeapSummary {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const { nodes, strings } = snapshot;
  const byName = new Map<string, { count: number; bytes: number }>();
  let totalBytes = 0;
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + typeAt]!]!;
    const size = nodes[i + sizeAt]!;
    totalBytes += size;
    const name = type === 'object' ? strings[nodes[i + nameAt]!]! : type === 'closure' ? `closure ${strings[nodes[i + nameAt]!] || '(anonymous)'}` : `(${type})`;
    const entry = byName.get(name) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += size;
    byName.set(name, entry);
  }
  return {
    file,
    totalBytes,
    entries: [...byName.entries()]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, top)
      .map(([name, entry]) => ({ name, ...entry })),
  };
}

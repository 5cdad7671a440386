/**
 * The load generator of the arrival-to-ack benchmark. Runs as a child process of main.ts (so
 * it does not share an event loop with the server it measures), opens raw `ws` connections,
 * sends `location` frames on a fixed open-loop schedule and times each frame from send to its
 * `ack`. Reports one LoadResult to the parent over IPC, then exits.
 */
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '@nearby/protocol';
import type { ChildMessage, LoadConfig, LoadResult, ParentMessage } from './load-protocol.js';
import { summarize } from '../common/stats.js';

interface Peer {
  socket: WebSocket;
  seq: number;
  lastTimestamp: number;
  lat: number;
  lon: number;
  /** seq → send time and sample count of frames awaiting an answer. */
  pending: Map<number, { sentAt: number; samples: number; measured: boolean }>;
}

const CONNECT_TIMEOUT_MS = 10_000;

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function open(config: LoadConfig, index: number, onFrame: (peer: Peer, data: string) => void): Promise<Peer> {
  const socket = new WebSocket(config.url, {
    headers: { authorization: `Bearer ${config.userPrefix}${index}` },
    perMessageDeflate: false,
  });
  const peer: Peer = {
    socket,
    seq: 0,
    lastTimestamp: 0,
    lat: 37.45 + (index % 100) / 1000,
    lon: 126.9 + Math.floor(index / 100) / 1000,
    pending: new Map(),
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connection ${index} got no snapshot within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`connection ${index} closed with ${code} before its snapshot`));
    });
    socket.once('open', () => socket.send(JSON.stringify({ type: 'init', v: PROTOCOL_VERSION })));
    const untilSnapshot = (data: WebSocket.RawData) => {
      if (!data.toString().includes('"snapshot"')) return;
      clearTimeout(timer);
      socket.off('message', untilSnapshot);
      socket.on('message', (next) => onFrame(peer, next.toString()));
      resolve();
    };
    socket.on('message', untilSnapshot);
  });
  socket.removeAllListeners('error');
  socket.removeAllListeners('close');
  socket.on('error', () => {});
  return peer;
}

async function run(config: LoadConfig): Promise<LoadResult> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let otherErrors = 0;
  let samplesAcked = 0;
  let ackedInWindow = 0;
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  let outstanding = 0;
  let wakeDrain: (() => void) | undefined;

  const onFrame = (peer: Peer, data: string): void => {
    const now = performance.now();
    const frame = JSON.parse(data) as { type: string; seq?: number; code?: string };
    if (frame.type !== 'ack' && frame.type !== 'error') return;
    if (frame.seq === undefined) {
      if (frame.type === 'error') otherErrors++;
      return;
    }
    const sent = peer.pending.get(frame.seq);
    if (sent === undefined) return;
    peer.pending.delete(frame.seq);
    outstanding--;
    if (sent.measured) {
      if (frame.type === 'ack') {
        latencies.push(now - sent.sentAt);
        samplesAcked += sent.samples;
        if (now >= windowStart && now < windowEnd) ackedInWindow += sent.samples;
      } else {
        const code = frame.code ?? 'unknown';
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
    if (outstanding === 0) wakeDrain?.();
  };

  // Open the connections a few at a time, as a crowd arriving would.
  const peers: Peer[] = [];
  for (let start = 0; start < config.connections; start += 20) {
    const batch = Array.from({ length: Math.min(20, config.connections - start) }, (_, k) => open(config, start + k, onFrame));
    peers.push(...(await Promise.all(batch)));
  }

  // Open loop: global frame n is due at t0 + n / framesPerSecond, on connection n mod N, so every
  // connection sends at the same rate with evenly staggered phases, whatever the answers do.
  const framesPerSecond = config.samplesPerSecond / config.samplesPerFrame;
  const warmupFrames = Math.round((config.warmupMs / 1000) * framesPerSecond);
  const measuredFrames = Math.round((config.durationMs / 1000) * framesPerSecond);
  const totalFrames = warmupFrames + measuredFrames;
  const lags: number[] = [];
  let framesSent = 0;
  let samplesSent = 0;
  const t0 = performance.now() + 50;
  let cpuAtStart = process.cpuUsage();
  let n = 0;

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (n < totalFrames) {
        const due = t0 + (n * 1000) / framesPerSecond;
        if (due > now) break;
        if (n === warmupFrames) {
          windowStart = due;
          windowEnd = due + config.durationMs;
          cpuAtStart = process.cpuUsage();
          void send({ type: 'measure-start' });
        }
        const peer = peers[n % peers.length]!;
        const measured = n >= warmupFrames;
        const samples = [];
        const wall = Date.now();
        for (let k = 0; k < config.samplesPerFrame; k++) {
          peer.lastTimestamp = Math.max(peer.lastTimestamp + 1, wall - (config.samplesPerFrame - 1 - k));
          peer.lat += (Math.random() - 0.5) * 1e-4;
          peer.lon += (Math.random() - 0.5) * 1e-4;
          samples.push({ lat: peer.lat, lon: peer.lon, accuracy: 10, timestamp: peer.lastTimestamp });
        }
        const seq = peer.seq++;
        const sentAt = performance.now();
        peer.pending.set(seq, { sentAt, samples: samples.length, measured });
        outstanding++;
        peer.socket.send(JSON.stringify({ type: 'location', seq, samples }));
        if (measured) {
          lags.push(sentAt - due);
          framesSent++;
          samplesSent += samples.length;
        }
        n++;
      }
      if (n >= totalFrames) {
        resolve();
        return;
      }
      const nextDue = t0 + (n * 1000) / framesPerSecond;
      setTimeout(tick, Math.max(0, nextDue - performance.now() - 0.5));
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });

  // Wait for the end of the window (the last frame is sent just before it), then for the answers.
  const untilWindowEnd = windowEnd - performance.now();
  if (untilWindowEnd > 0) await new Promise((resolve) => setTimeout(resolve, untilWindowEnd));
  const cpu = process.cpuUsage(cpuAtStart);
  void send({ type: 'measure-end' });
  const drainStarted = performance.now();
  if (outstanding > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, config.drainTimeoutMs);
      wakeDrain = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  const drainMs = performance.now() - drainStarted;
  let unanswered = 0;
  for (const peer of peers) for (const frame of peer.pending.values()) if (frame.measured) unanswered++;

  await Promise.all(
    peers.map(
      (peer) =>
        new Promise<void>((resolve) => {
          if (peer.socket.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            peer.socket.terminate();
            resolve();
          }, 2_000);
          peer.socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          peer.socket.close(1000, 'benchmark done');
        }),
    ),
  );

  const lagSummary = summarize(lags);
  return {
    connections: peers.length,
    framesSent,
    samplesSent,
    latency: summarize(latencies),
    ackedSamplesPerSecondInWindow: ackedInWindow / (config.durationMs / 1000),
    samplesAcked,
    errors,
    otherErrors,
    unanswered,
    sendLagMs: { p99: lagSummary.p99, max: lagSummary.max },
    cpuShareOfOneCore: (cpu.user + cpu.system) / 1000 / config.durationMs,
    drainMs,
  };
}

process.once('message', (message: ParentMessage) => {
  run(message.config)
    .then(
      (result): ChildMessage => ({ type: 'result', result }),
      (error: unknown): ChildMessage => ({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
    )
    .then(send)
    .finally(() => process.disconnect?.());
});

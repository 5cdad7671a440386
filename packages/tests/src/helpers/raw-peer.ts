import { setTimeout as nodeSetTimeout } from 'node:timers';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, decodeServerFrame, type LocationSample, type ServerFrame } from '@nearby/protocol';

export interface CloseEvent {
  code: number;
  reason: string;
}

/** How long a test waits for something that must happen; failing fast beats hanging. */
const WAIT_MS = 5_000;

/**
 * A protocol peer on a raw `ws` socket that records every frame it receives, so tests can
 * assert on exactly what went over the wire (not only on a client's derived state). Every frame
 * is decoded with the protocol's server-frame schema: one that does not match it fails the
 * test at the next wait, so a frame that drifts from the spec cannot pass unnoticed.
 */
export class RawPeer {
  readonly frames: ServerFrame[] = [];
  readonly raw: string[] = [];
  /** Received frames that failed the server-frame schema, with the reason. */
  readonly invalid: string[] = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  #waiters: Array<() => void> = [];

  constructor(url: string) {
    this.socket = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.socket.on('error', () => {});
    // Callers that never await `opened` (refusal tests) must not leave an unhandled rejection.
    this.opened.catch(() => {});
    this.socket.on('message', (data) => {
      const text = data.toString();
      this.raw.push(text);
      const decoded = decodeServerFrame(text);
      if (decoded.ok) this.frames.push(decoded.frame);
      else this.invalid.push(`${decoded.code}: ${decoded.message}: ${text}`);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
    this.socket.once('close', () => {
      for (const wake of this.#waiters) wake();
    });
  }

  static async connect(url: string): Promise<RawPeer> {
    const peer = new RawPeer(url);
    await peer.opened;
    return peer;
  }

  send(frame: object): void {
    this.socket.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer): void {
    this.socket.send(data);
  }

  /** Sends init and resolves with the snapshot that answers it. */
  async init(init: { location?: LocationSample; radiusKm?: number; sharing?: boolean } = {}): Promise<ServerFrame & { type: 'snapshot' }> {
    const before = this.count('snapshot');
    this.send({ type: 'init', v: PROTOCOL_VERSION, ...init });
    return this.waitFor((f): f is ServerFrame & { type: 'snapshot' } => f.type === 'snapshot', before);
  }

  count(type: ServerFrame['type']): number {
    return this.frames.filter((frame) => frame.type === type).length;
  }

  ofType<T extends ServerFrame['type']>(type: T): Array<Extract<ServerFrame, { type: T }>> {
    return this.frames.filter((frame): frame is Extract<ServerFrame, { type: T }> => frame.type === type);
  }

  /** Resolves with the first frame after index `from` that matches. */
  async waitFor<F extends ServerFrame>(match: (frame: ServerFrame) => frame is F, from?: number): Promise<F>;
  async waitFor(match: (frame: ServerFrame) => boolean, from?: number): Promise<ServerFrame>;
  async waitFor(match: (frame: ServerFrame) => boolean, from = 0): Promise<ServerFrame> {
    const deadline = performance.now() + WAIT_MS;
    let index = from;
    for (;;) {
      if (this.invalid.length > 0) throw new Error(`the server sent a frame that fails its schema: ${this.invalid[0]}`);
      for (; index < this.frames.length; index++) {
        const frame = this.frames[index]!;
        if (match(frame)) return frame;
      }
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error(`socket closed before the expected frame; got ${this.describe()}`);
      if (performance.now() > deadline) throw new Error(`timed out waiting for a frame; got ${this.describe()}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setRealTimeout(resolve, 50);
      });
    }
  }

  /** Round-trips a ping: every frame the server queued before answering it has arrived. */
  async sync(): Promise<void> {
    const id = Math.floor(Math.random() * 1_000_000);
    this.send({ type: 'ping', id });
    await this.waitFor((frame) => frame.type === 'pong' && frame.id === id);
  }

  /** Friend ids seen in friend_update frames since index `from`. */
  updatedFriends(from = 0): string[] {
    return this.frames.slice(from).flatMap((frame) => (frame.type === 'friend_update' ? frame.friends.map((f) => f.userId) : []));
  }

  close(code = 1000): Promise<CloseEvent> {
    this.socket.close(code);
    return this.closed;
  }

  describe(): string {
    return this.raw.slice(-8).join('\n');
  }
}

/** A setTimeout that is never faked: taken from Node's timers module, not from globalThis. */
function setRealTimeout(callback: () => void, ms: number): void {
  nodeSetTimeout(callback, ms).unref();
}

/** A sample at `lat, lon`, stamped now. */
export function at(lat: number, lon: number, timestamp = Date.now()): LocationSample {
  return { lat, lon, timestamp };
}

import {
  CloseCode,
  ErrorCode,
  Limits,
  NearbyError,
  decodeServerFrame,
  encodeFrame,
  type ClientFrame,
  type InitFrame,
  type ServerFrame,
} from '@nearby/protocol';
import { backoffDelay } from './backoff.js';
import { closeOutcome, rejectionFor } from './close-errors.js';
import { Timer, type Timers } from './environment.js';
import { Heartbeat } from './heartbeat.js';
import type { Notifier } from './notifier.js';
import type { ResolvedOptions } from './options.js';
import type { ConnectionState } from './types.js';
import {
  READY_STATE_OPEN,
  withQueryParam,
  type CloseEventLike,
  type MessageEventLike,
  type WebSocketConstructor,
  type WebSocketLike,
} from './websocket.js';

/** Jitter added to a drain notice's delay when reconnecting is disabled (no `initialDelayMs` to use). */
const DEFAULT_DRAIN_JITTER_MS = 500;

const noop = (): void => {};

interface Waiter {
  resolve: () => void;
  reject: (error: NearbyError) => void;
}

/** What the connection needs from the rest of the client. */
export interface ConnectionHooks {
  /** The `init` frame to send as soon as a socket opens. */
  init(): InitFrame;
  /** A decoded server frame that is not about the connection itself (everything but `pong` and `reconnect`). */
  frame(frame: ServerFrame): void;
  /** The connection ended (lost, abandoned or closed): work in flight on it must be taken back. */
  lost(): void;
  /** The client entered `closed`. */
  closed(): void;
  /** True while reconnecting must wait (device offline, app parked in the background). */
  held(): boolean;
  /** True when the device is known to be offline. */
  offline(): boolean;
}

/** The connection options it reads. */
export type ConnectionOptions = Pick<
  ResolvedOptions,
  'url' | 'token' | 'getToken' | 'tokenParam' | 'WebSocket' | 'connectTimeoutMs' | 'reconnect' | 'heartbeat' | 'random'
>;

/**
 * One WebSocket at a time and the client's {@link ConnectionState}: fetches the token, opens
 * the socket and sends `init`, gives up on an attempt after `connectTimeoutMs`, checks liveness
 * with heartbeats, reconnects with full-jitter backoff, follows the server's drain notices and
 * stops for good on the terminal close codes. It closes with 1000 only in {@link close} (the
 * user signs off); every other close of its own is 4100 (reconnecting).
 *
 * Frames other than `pong` and `reconnect` go to {@link ConnectionHooks.frame}. The connection
 * counts as `connected` once the client calls {@link established} for the first snapshot.
 */
export class Connection {
  private state: ConnectionState = 'idle';
  private socket: WebSocketLike | undefined;
  private socketError: unknown;
  /** Whether the current socket opened (a failure before that is about reaching the server). */
  private opened = false;
  /** The attempt in progress; a `getToken` that settles after its attempt was abandoned sees it changed. */
  private attemptId = 0;
  /** Consecutive failed attempts since the last snapshot, for the backoff. */
  private failures = 0;
  private waiters: Waiter[] = [];
  /** Rejection for `whenConnected()` while closed. */
  private closedReason: NearbyError = new NearbyError(ErrorCode.CLOSED, 'the client is closed');
  private error: NearbyError | null = null;
  private readonly heartbeat: Heartbeat | undefined;
  private pingId = 0;
  /** Waits out the backoff (or a drain notice's delay), then opens unless held. */
  private readonly reconnectTimer: Timer;
  /** Gives up on an attempt that brought no snapshot within `connectTimeoutMs`. */
  private readonly connectTimer: Timer;

  /**
   * @param options - Connection options.
   * @param timers - Timers whose callbacks run as entry points (see {@link Notifier.entryTimers}).
   * @param notifier - Queues events; socket events and settled tokens run as its entry points.
   * @param hooks - The rest of the client.
   */
  constructor(
    private readonly options: ConnectionOptions,
    timers: Timers,
    private readonly notifier: Notifier,
    private readonly hooks: ConnectionHooks,
  ) {
    this.reconnectTimer = new Timer(timers, () => {
      // Went offline or parked meanwhile: resume() opens once that ends.
      if (!hooks.held()) this.open();
    });
    // The timeout covers the whole attempt (token fetch included), so no stage can hang forever.
    this.connectTimer = new Timer(timers, () =>
      this.fail(
        'connect timeout',
        ErrorCode.CONNECTION_FAILED,
        `no snapshot within ${options.connectTimeoutMs} ms of starting to connect`,
      ),
    );
    const heartbeat = options.heartbeat;
    this.heartbeat =
      heartbeat === false
        ? undefined
        : new Heartbeat(
            timers,
            heartbeat,
            () => {
              this.pingId = this.pingId >= Limits.MAX_SEQ ? 0 : this.pingId + 1;
              this.send({ type: 'ping', id: this.pingId });
            },
            () =>
              this.fail(
                'heartbeat timeout',
                ErrorCode.HEARTBEAT_TIMEOUT,
                `no frame from the server within ${heartbeat.timeoutMs} ms of a ping`,
              ),
          );
  }

  /** The connection state. */
  get current(): ConnectionState {
    return this.state;
  }

  /** True once the first snapshot of the current connection arrived. */
  get connected(): boolean {
    return this.state === 'connected';
  }

  /** The most recent error since the client last reached `connected`. */
  get lastError(): NearbyError | null {
    return this.error;
  }

  /** See `NearbyClient.connect`. */
  connect(): void {
    if (this.state === 'connecting' || this.state === 'connected') return;
    if (this.state === 'reconnecting') {
      this.reconnectTimer.stop();
    } else {
      this.failures = 0;
    }
    this.open();
  }

  /** See `NearbyClient.close`. */
  close(): void {
    if (this.state === 'closed') return;
    this.shutdown(CloseCode.NORMAL, 'client closed', new NearbyError(ErrorCode.CLOSED, 'the client was closed'));
  }

  /** See `NearbyClient.whenConnected`. */
  whenConnected(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(this.closedReason);
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
    });
  }

  /** The first snapshot of this connection arrived: the attempt succeeded. */
  established(): void {
    this.connectTimer.stop();
    this.failures = 0;
    this.heartbeat?.start();
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve();
    this.setState('connected');
  }

  /**
   * Reconnects at once, skipping the backoff (the app returned to the foreground, the network
   * came back); a connected socket is probed with a ping instead.
   */
  resume(): void {
    if (this.state === 'connected') this.heartbeat?.probe();
    if (this.state !== 'reconnecting' || this.hooks.held()) return;
    this.reconnectTimer.stop();
    this.failures = 0;
    this.open();
  }

  /** Closes the socket with 4100 and waits, `reconnecting`, for {@link resume} (the app is in the background). */
  park(): void {
    if (this.state === 'idle' || this.state === 'closed') return;
    this.drop(CloseCode.CLIENT_RECONNECTING, 'app in background');
    this.reconnectTimer.stop();
    this.setState('reconnecting');
  }

  /** Sends a frame if the socket is open. A throwing `send` means a dead socket: reconnect. */
  send(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (socket === undefined || socket.readyState !== READY_STATE_OPEN) return false;
    try {
      socket.send(encodeFrame(frame));
      return true;
    } catch (error) {
      this.fail('send failed', ErrorCode.CONNECTION_FAILED, 'could not send a frame', error);
      return false;
    }
  }

  /** Records `error` as the last error and raises the `error` event. */
  report(error: NearbyError): void {
    this.error = error;
    this.notifier.emit('error', error);
  }

  /** Starts one connection attempt: token, socket, then `init` once open. */
  private open(): void {
    const attemptId = ++this.attemptId;
    this.connectTimer.start(this.options.connectTimeoutMs);
    this.setState('connecting');

    const { getToken } = this.options;
    if (getToken === undefined) {
      this.openSocket(this.options.token);
      return;
    }
    let pending: string | Promise<string>;
    try {
      pending = getToken();
    } catch (error) {
      this.failAttempt('getToken threw', error);
      return;
    }
    // A settled token is an entry point of its own, like a frame or a timer.
    Promise.resolve(pending).then(
      (token) =>
        this.notifier.batch(() => {
          if (attemptId !== this.attemptId) return;
          if (typeof token !== 'string') {
            this.failAttempt(`getToken returned ${typeof token}, not a string`);
            return;
          }
          this.openSocket(token);
        }),
      (error: unknown) =>
        this.notifier.batch(() => {
          if (attemptId === this.attemptId) this.failAttempt('getToken rejected', error);
        }),
    );
  }

  private openSocket(token: string | undefined): void {
    const { url, tokenParam } = this.options;
    const target = token === undefined ? url : withQueryParam(url, tokenParam, token);
    let socket: WebSocketLike;
    try {
      socket = new (this.options.WebSocket() as WebSocketConstructor)(target);
    } catch (error) {
      this.failAttempt(`could not open a WebSocket to ${url}`, error);
      return;
    }
    this.socket = socket;
    this.socketError = undefined;
    this.opened = false;
    // Each socket event is an entry point, handled only while `socket` is the current one: a
    // replaced socket's late events must not touch the new connection.
    const handler =
      <E>(handle: (event: E) => void) =>
      (event: E): void =>
        this.notifier.batch(() => {
          if (this.socket === socket) handle(event);
        });
    socket.onopen = handler(() => {
      this.opened = true;
      this.send(this.hooks.init());
    });
    socket.onmessage = handler((event: MessageEventLike) => this.handleMessage(event.data));
    // Kept for the close that follows (it says why the connection failed); no entry point.
    socket.onerror = (event) => {
      if (this.socket === socket) this.socketError = event;
    };
    socket.onclose = handler((event: CloseEventLike) => this.handleClose(event.code, event.reason));
  }

  /** Ends this connection (closing with 4100: the user stays online), reports an error and backs off. */
  private fail(reason: string, code: ErrorCode, message: string, cause?: unknown): void {
    this.drop(CloseCode.CLIENT_RECONNECTING, reason);
    this.retry(new NearbyError(code, message, { cause }));
  }

  /** A token or socket failure before any close event: report it and back off. */
  private failAttempt(message: string, cause?: unknown): void {
    this.fail('connect failed', ErrorCode.CONNECTION_FAILED, message, cause);
  }

  private handleMessage(data: unknown): void {
    this.heartbeat?.alive();
    if (typeof data !== 'string') {
      this.report(new NearbyError(ErrorCode.INVALID_FRAME, 'ignored a binary frame from the server'));
      return;
    }
    const result = decodeServerFrame(data);
    if (!result.ok) {
      // Frame types added by newer servers are skipped silently: that is how the protocol evolves.
      if (result.code !== ErrorCode.UNKNOWN_TYPE) {
        this.report(new NearbyError(ErrorCode.INVALID_FRAME, `ignored an invalid server frame: ${result.message}`));
      }
      return;
    }
    const frame = result.frame;
    switch (frame.type) {
      case 'pong':
        // Liveness only; the heartbeat was told above.
        return;
      case 'reconnect': {
        // A planned move (the server is draining), not a failure: no error, no backoff growth.
        this.drop(CloseCode.CLIENT_RECONNECTING, 'server draining');
        const { reconnect } = this.options;
        const jitterMs = this.options.random() * (reconnect === false ? DEFAULT_DRAIN_JITTER_MS : reconnect.initialDelayMs);
        this.scheduleReconnect(frame.delayMs + jitterMs);
        return;
      }
      default:
        this.hooks.frame(frame);
    }
  }

  private handleClose(code: number, reason: string): void {
    const { error, terminal } = closeOutcome(code, reason, this.socketError, this.opened, this.hooks.offline());
    this.drop(undefined, '');
    if (terminal) {
      this.shutdown(undefined, '', rejectionFor(error));
      this.report(error);
      return;
    }
    this.retry(error);
  }

  /**
   * Ends the current connection: socket (closed with `code` when given), connect timer and
   * heartbeat; then the rest of the client takes back what was in flight on it.
   */
  private drop(code: number | undefined, reason: string): void {
    this.attemptId++;
    this.connectTimer.stop();
    this.heartbeat?.stop();
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined) {
      // No-ops rather than null: `ws` emits 'error' when a CONNECTING socket is closed, and an
      // EventEmitter 'error' without a listener would crash the Node process.
      socket.onopen = noop;
      socket.onmessage = noop;
      socket.onerror = noop;
      socket.onclose = noop;
      if (code !== undefined) {
        try {
          socket.close(code, reason);
        } catch {
          // Already closed or closing: nothing left to release.
        }
      }
    }
    this.hooks.lost();
  }

  /** After a failure: wait for the backoff and try again, or stay closed if reconnecting is off. */
  private retry(error: NearbyError): void {
    const { reconnect } = this.options;
    if (reconnect === false) {
      this.shutdown(undefined, '', rejectionFor(error));
      this.report(error);
      return;
    }
    if (this.hooks.held()) {
      // Offline or in the background: wait for resume() without growing the backoff.
      this.setState('reconnecting');
    } else {
      // The failure counter resets only when a snapshot arrives: a socket that opens and dies at
      // once must keep backing off, or a broken server would be hammered.
      this.scheduleReconnect(backoffDelay(this.failures++, reconnect, this.options.random));
    }
    this.report(error);
  }

  private scheduleReconnect(delayMs: number): void {
    this.reconnectTimer.start(delayMs);
    this.setState('reconnecting');
  }

  /** Enters `closed`: socket closed, every timer stopped, waiters rejected. */
  private shutdown(code: number | undefined, reason: string, rejection: NearbyError): void {
    this.drop(code, reason);
    this.reconnectTimer.stop();
    this.closedReason = rejection;
    // Whatever earlier entry points raised and a listener has not seen yet (this may be a
    // listener calling close()) describes the connection and list that end here.
    this.notifier.discardWaiting();
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(rejection);
    this.setState('closed');
    this.hooks.closed();
  }

  private setState(next: ConnectionState): void {
    const previous = this.state;
    if (previous === next) return;
    this.state = next;
    if (next === 'connected') this.error = null;
    this.notifier.emit('state', next, previous);
  }
}

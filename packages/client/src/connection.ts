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

/** See {@link createConnection}. */
export type Connection = ReturnType<typeof createConnection>;

/**
 * One WebSocket at a time and the client's {@link ConnectionState}: fetches the token, opens
 * the socket and sends `init`, gives up on an attempt after `connectTimeoutMs`, checks liveness
 * with heartbeats, reconnects with full-jitter backoff, follows the server's drain notices and
 * stops for good on the terminal close codes. It closes with 1000 only in `close()` (the user
 * signs off); every other close of its own is 4100 (reconnecting).
 *
 * Frames other than `pong` and `reconnect` go to {@link ConnectionHooks.frame}. The connection
 * counts as `connected` once the client calls `established()` for the first snapshot.
 *
 * A closure rather than a class, like the uploader: private state as locals.
 *
 * @param options - Connection options.
 * @param timers - Timers whose callbacks run as entry points (see {@link Notifier.entryTimers}).
 * @param notifier - Queues events; socket events and settled tokens run as its entry points.
 * @param hooks - The rest of the client.
 */
export function createConnection(options: ConnectionOptions, timers: Timers, notifier: Notifier, hooks: ConnectionHooks) {
  let state: ConnectionState = 'idle';
  let socket: WebSocketLike | undefined;
  let socketError: unknown;
  /** Whether the current socket opened (a failure before that is about reaching the server). */
  let opened = false;
  /** The attempt in progress; a `getToken` that settles after its attempt was abandoned sees it changed. */
  let attemptId = 0;
  /** Consecutive failed attempts since the last snapshot, for the backoff. */
  let failures = 0;
  let waiters: Waiter[] = [];
  /** Rejection for `whenConnected()` while closed. */
  let closedReason = new NearbyError(ErrorCode.CLOSED, 'the client is closed');
  let lastError: NearbyError | null = null;
  let pingId = 0;
  const { heartbeat: heartbeatOptions, reconnect } = options;

  /** Waits out the backoff (or a drain notice's delay), then opens unless held. */
  const reconnectTimer = new Timer(timers, () => {
    // Went offline or parked meanwhile: resume() opens once that ends.
    if (!hooks.held()) open();
  });
  // The timeout covers the whole attempt (token fetch included), so no stage can hang forever.
  const connectTimer = new Timer(timers, () =>
    fail('connect timeout', ErrorCode.CONNECTION_FAILED, `no snapshot within ${options.connectTimeoutMs} ms of starting to connect`),
  );
  const heartbeat =
    heartbeatOptions === false
      ? undefined
      : new Heartbeat(
          timers,
          heartbeatOptions,
          () => {
            pingId = pingId >= Limits.MAX_SEQ ? 0 : pingId + 1;
            send({ type: 'ping', id: pingId });
          },
          () =>
            fail(
              'heartbeat timeout',
              ErrorCode.HEARTBEAT_TIMEOUT,
              `no frame from the server within ${heartbeatOptions.timeoutMs} ms of a ping`,
            ),
        );

  /** Sends a frame if the socket is open. A throwing `send` means a dead socket: reconnect. */
  const send = (frame: ClientFrame): boolean => {
    if (socket === undefined || socket.readyState !== READY_STATE_OPEN) return false;
    try {
      socket.send(encodeFrame(frame));
      return true;
    } catch (error) {
      fail('send failed', ErrorCode.CONNECTION_FAILED, 'could not send a frame', error);
      return false;
    }
  };

  /** Records `error` as the last error and raises the `error` event. */
  const report = (error: NearbyError): void => {
    lastError = error;
    notifier.emit('error', error);
  };

  /** Starts one connection attempt: token, socket, then `init` once open. */
  const open = (): void => {
    const attempt = ++attemptId;
    connectTimer.start(options.connectTimeoutMs);
    setState('connecting');

    const { getToken } = options;
    if (getToken === undefined) {
      openSocket(options.token);
      return;
    }
    let pending: string | Promise<string>;
    try {
      pending = getToken();
    } catch (error) {
      failAttempt('getToken threw', error);
      return;
    }
    // A settled token is an entry point of its own, like a frame or a timer.
    Promise.resolve(pending).then(
      (token) =>
        notifier.batch(() => {
          if (attempt !== attemptId) return;
          if (typeof token !== 'string') {
            failAttempt(`getToken returned ${typeof token}, not a string`);
            return;
          }
          openSocket(token);
        }),
      (error: unknown) =>
        notifier.batch(() => {
          if (attempt === attemptId) failAttempt('getToken rejected', error);
        }),
    );
  };

  const openSocket = (token: string | undefined): void => {
    const { url, tokenParam } = options;
    const target = token === undefined ? url : withQueryParam(url, tokenParam, token);
    let current: WebSocketLike;
    try {
      current = new (options.WebSocket() as WebSocketConstructor)(target);
    } catch (error) {
      failAttempt(`could not open a WebSocket to ${url}`, error);
      return;
    }
    socket = current;
    socketError = undefined;
    opened = false;
    // Each socket event is an entry point, handled only while `current` is the socket: a
    // replaced socket's late events must not touch the new connection.
    const handler =
      <E>(handle: (event: E) => void) =>
      (event: E): void =>
        notifier.batch(() => {
          if (socket === current) handle(event);
        });
    current.onopen = handler(() => {
      opened = true;
      send(hooks.init());
    });
    current.onmessage = handler((event: MessageEventLike) => handleMessage(event.data));
    // Kept for the close that follows (it says why the connection failed); no entry point.
    current.onerror = (event) => {
      if (socket === current) socketError = event;
    };
    current.onclose = handler((event: CloseEventLike) => handleClose(event.code, event.reason));
  };

  /** Ends this connection (closing with 4100: the user stays online), reports an error and backs off. */
  const fail = (reason: string, code: ErrorCode, message: string, cause?: unknown): void => {
    drop(CloseCode.CLIENT_RECONNECTING, reason);
    retry(new NearbyError(code, message, { cause }));
  };

  /** A token or socket failure before any close event: report it and back off. */
  const failAttempt = (message: string, cause?: unknown): void =>
    fail('connect failed', ErrorCode.CONNECTION_FAILED, message, cause);

  const handleMessage = (data: unknown): void => {
    heartbeat?.alive();
    if (typeof data !== 'string') {
      report(new NearbyError(ErrorCode.INVALID_FRAME, 'ignored a binary frame from the server'));
      return;
    }
    const result = decodeServerFrame(data);
    if (!result.ok) {
      // Frame types added by newer servers are skipped silently: that is how the protocol evolves.
      if (result.code !== ErrorCode.UNKNOWN_TYPE) {
        report(new NearbyError(ErrorCode.INVALID_FRAME, `ignored an invalid server frame: ${result.message}`));
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
        drop(CloseCode.CLIENT_RECONNECTING, 'server draining');
        const jitterMs = options.random() * (reconnect === false ? DEFAULT_DRAIN_JITTER_MS : reconnect.initialDelayMs);
        scheduleReconnect(frame.delayMs + jitterMs);
        return;
      }
      default:
        hooks.frame(frame);
    }
  };

  const handleClose = (code: number, reason: string): void => {
    const { error, terminal } = closeOutcome(code, reason, socketError, opened, hooks.offline());
    drop(undefined, '');
    if (terminal) {
      shutdown(undefined, '', rejectionFor(error));
      report(error);
      return;
    }
    retry(error);
  };

  /**
   * Ends the current connection: socket (closed with `code` when given), connect timer and
   * heartbeat; then the rest of the client takes back what was in flight on it.
   */
  const drop = (code: number | undefined, reason: string): void => {
    attemptId++;
    connectTimer.stop();
    heartbeat?.stop();
    const dropped = socket;
    socket = undefined;
    if (dropped !== undefined) {
      // No-ops rather than null: `ws` emits 'error' when a CONNECTING socket is closed, and an
      // EventEmitter 'error' without a listener would crash the Node process.
      dropped.onopen = noop;
      dropped.onmessage = noop;
      dropped.onerror = noop;
      dropped.onclose = noop;
      if (code !== undefined) {
        try {
          dropped.close(code, reason);
        } catch {
          // Already closed or closing: nothing left to release.
        }
      }
    }
    hooks.lost();
  };

  /** After a failure: wait for the backoff and try again, or stay closed if reconnecting is off. */
  const retry = (error: NearbyError): void => {
    if (reconnect === false) {
      shutdown(undefined, '', rejectionFor(error));
      report(error);
      return;
    }
    if (hooks.held()) {
      // Offline or in the background: wait for resume() without growing the backoff.
      setState('reconnecting');
    } else {
      // The failure counter resets only when a snapshot arrives: a socket that opens and dies at
      // once must keep backing off, or a broken server would be hammered.
      scheduleReconnect(backoffDelay(failures++, reconnect, options.random));
    }
    report(error);
  };

  const scheduleReconnect = (delayMs: number): void => {
    reconnectTimer.start(delayMs);
    setState('reconnecting');
  };

  /** Enters `closed`: socket closed, every timer stopped, waiters rejected. */
  const shutdown = (code: number | undefined, reason: string, rejection: NearbyError): void => {
    drop(code, reason);
    reconnectTimer.stop();
    closedReason = rejection;
    // Whatever earlier entry points raised and a listener has not seen yet (this may be a
    // listener calling close()) describes the connection and list that end here.
    notifier.discardWaiting();
    const rejected = waiters;
    waiters = [];
    for (const waiter of rejected) waiter.reject(rejection);
    setState('closed');
    hooks.closed();
  };

  const setState = (next: ConnectionState): void => {
    const previous = state;
    if (previous === next) return;
    state = next;
    if (next === 'connected') lastError = null;
    notifier.emit('state', next, previous);
  };

  return {
    send,
    report,

    /** The connection state. */
    get current(): ConnectionState {
      return state;
    },

    /** True once the first snapshot of the current connection arrived. */
    get connected(): boolean {
      return state === 'connected';
    },

    /** The most recent error since the client last reached `connected`. */
    get lastError(): NearbyError | null {
      return lastError;
    },

    /** See `NearbyClient.connect`. */
    connect(): void {
      if (state === 'connecting' || state === 'connected') return;
      if (state === 'reconnecting') reconnectTimer.stop();
      else failures = 0;
      open();
    },

    /** See `NearbyClient.close`. */
    close(): void {
      if (state !== 'closed') {
        shutdown(CloseCode.NORMAL, 'client closed', new NearbyError(ErrorCode.CLOSED, 'the client was closed'));
      }
    },

    /** See `NearbyClient.whenConnected`. */
    whenConnected(): Promise<void> {
      if (state === 'connected') return Promise.resolve();
      if (state === 'closed') return Promise.reject(closedReason);
      return new Promise<void>((resolve, reject) => {
        waiters.push({ resolve, reject });
      });
    },

    /** The first snapshot of this connection arrived: the attempt succeeded. */
    established(): void {
      connectTimer.stop();
      failures = 0;
      heartbeat?.start();
      const resolved = waiters;
      waiters = [];
      for (const waiter of resolved) waiter.resolve();
      setState('connected');
    },

    /**
     * Reconnects at once, skipping the backoff (the app returned to the foreground, the network
     * came back); a connected socket is probed with a ping instead.
     */
    resume(): void {
      if (state === 'connected') heartbeat?.probe();
      if (state !== 'reconnecting' || hooks.held()) return;
      reconnectTimer.stop();
      failures = 0;
      open();
    },

    /** Closes the socket with 4100 and waits, `reconnecting`, for `resume()` (the app is in the background). */
    park(): void {
      if (state === 'idle' || state === 'closed') return;
      drop(CloseCode.CLIENT_RECONNECTING, 'app in background');
      reconnectTimer.stop();
      setState('reconnecting');
    },
  };
}

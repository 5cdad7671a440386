import { Timer, type Timers } from './environment.js';
import type { HeartbeatOptions } from './options.js';

/**
 * Application-level liveness check. React Native cannot send WebSocket ping frames, and a
 * mobile connection can die silently (no FIN, no error) when the network changes; without a
 * heartbeat the client would sit "connected" forever while receiving nothing.
 *
 * Every `intervalMs` a `ping` goes out. Any inbound frame proves the socket alive; if none
 * arrives within `timeoutMs` of the first unanswered ping, `onTimeout` runs once.
 */
export class Heartbeat {
  /** The next ping. */
  private readonly tick: Timer;
  /** Presumes the socket dead when no frame answered the oldest unanswered ping. */
  private readonly deadline: Timer;

  /**
   * @param timers - Timer functions.
   * @param options - Interval and timeout.
   * @param sendPing - Sends one `ping` frame.
   * @param onTimeout - Called when the socket is presumed dead; the heartbeat is stopped first.
   */
  constructor(
    timers: Timers,
    private readonly options: HeartbeatOptions,
    private readonly sendPing: () => void,
    onTimeout: () => void,
  ) {
    this.tick = new Timer(timers, () => this.ping());
    this.deadline = new Timer(timers, () => {
      this.stop();
      onTimeout();
    });
  }

  /** Starts (or restarts) pinging. */
  start(): void {
    this.stop();
    this.tick.start(this.options.intervalMs);
  }

  /** Stops pinging and forgets any pending deadline. */
  stop(): void {
    this.tick.stop();
    this.deadline.stop();
  }

  /** Records that a frame arrived: the socket is alive, so the pending deadline is cancelled. */
  alive(): void {
    this.deadline.stop();
  }

  /** While started: pings now (the socket may have died with the network or in the background). */
  probe(): void {
    if (this.tick.pending) this.ping();
  }

  private ping(): void {
    // Keep the deadline of the OLDEST unanswered ping: re-arming it on every ping would let
    // a short interval postpone the timeout forever.
    if (!this.deadline.pending) this.deadline.start(this.options.timeoutMs);
    this.tick.start(this.options.intervalMs);
    this.sendPing();
  }
}

import type { TimerHandle, Timers } from './environment.js';
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
  private tick: TimerHandle | undefined;
  private deadline: TimerHandle | undefined;

  /**
   * @param timers - Timer functions.
   * @param options - Interval and timeout.
   * @param sendPing - Sends one `ping` frame.
   * @param onTimeout - Called when the socket is presumed dead; the heartbeat is stopped first.
   */
  constructor(
    private readonly timers: Timers,
    private readonly options: HeartbeatOptions,
    private readonly sendPing: () => void,
    private readonly onTimeout: () => void,
  ) {}

  /** Starts (or restarts) pinging. */
  start(): void {
    this.stop();
    this.schedule();
  }

  /** Stops pinging and forgets any pending deadline. */
  stop(): void {
    if (this.tick !== undefined) this.timers.clearTimeout(this.tick);
    if (this.deadline !== undefined) this.timers.clearTimeout(this.deadline);
    this.tick = undefined;
    this.deadline = undefined;
  }

  /** Records that a frame arrived: the socket is alive, so the pending deadline is cancelled. */
  alive(): void {
    if (this.deadline === undefined) return;
    this.timers.clearTimeout(this.deadline);
    this.deadline = undefined;
  }

  /** While started: pings now (the socket may have died with the network or in the background). */
  probe(): void {
    if (this.tick === undefined) return;
    this.timers.clearTimeout(this.tick);
    this.ping();
  }

  private ping(): void {
    // Keep the deadline of the OLDEST unanswered ping: re-arming it on every ping would let
    // a short interval postpone the timeout forever.
    if (this.deadline === undefined) {
      this.deadline = this.timers.setTimeout(() => {
        this.deadline = undefined;
        this.stop();
        this.onTimeout();
      }, this.options.timeoutMs);
    }
    this.schedule();
    this.sendPing();
  }

  private schedule(): void {
    this.tick = this.timers.setTimeout(() => {
      this.tick = undefined;
      this.ping();
    }, this.options.intervalMs);
  }
}

import type { DiscoveryStateFrame, InitFrame, SnapshotFrame } from '@nearby/protocol';
import { Timer, type Timers } from './environment.js';
import type { SettingsLink } from './settings-sync.js';

/** The two opt-ins to nearby people, by their names on the wire. */
const KEYS = ['discoverable', 'seeStrangers'] as const;

/** An opt-in: `discoverable` (others may see this user) or `seeStrangers` (this user sees others). */
export type OptIn = (typeof KEYS)[number];

type OptIns = Record<OptIn, boolean>;

/** Shortest gap between two opt-in changes on one connection: the server refuses more than one a second. */
const CHANGE_INTERVAL_MS = 1000;

/** See {@link createDiscovery}. */
export type Discovery = ReturnType<typeof createDiscovery>;

/**
 * Keeps the user's opt-ins to nearby people in step with the server. The server never keeps
 * them once the user's last connection ends, so every `init` asks again for each opt-in that is
 * on (and for one the app chose and the server has not confirmed yet, even if off). An opt-in
 * reads as on only while this device wants it AND the server reported it on: an opt-in the
 * host refuses, or one not confirmed yet, reads as off; turning one off reads as off at once.
 *
 * Changes while connected go out as `discovery` frames, at most one a second (later changes
 * wait and go out together), each answered with `discovery_state`. Like the settings sync, a
 * state the server reported before it saw our latest change never reverts that change.
 *
 * @param initial - The `discoverable` and `seeStrangers` options (`undefined` when not given).
 * @param link - The connection.
 * @param timers - Timers whose callbacks run as entry points.
 * @param notSeeing - Called after every change while seeing nearby people reads as off, to empty their list.
 */
export function createDiscovery(initial: Partial<OptIns>, link: SettingsLink, timers: Timers, notSeeing: () => void) {
  /** What this device asks for. */
  const wanted = { discoverable: initial.discoverable === true, seeStrangers: initial.seeStrangers === true };
  /** What the server last reported. */
  const reported = { discoverable: false, seeStrangers: false };
  /** Chosen by the app (option or setter) and not confirmed yet: travels in `init` even when off. */
  const chosen = { discoverable: initial.discoverable !== undefined, seeStrangers: initial.seeStrangers !== undefined };
  /** What the current connection's `init` asked for, if it named an opt-in. */
  let asked: OptIns | undefined;
  /** `discovery` frames (and an `init` naming an opt-in) on this connection not answered yet. */
  let unanswered = 0;
  /** Local time of the last frame that changed an opt-in. */
  let lastChangeAt = -Infinity;
  const sendNow = (): void => {
    lastChangeAt = timers.now();
    if (link.send({ type: 'discovery', ...wanted })) unanswered++;
  };
  /** Holds a change back until a second has passed since the previous one. */
  const delayed = new Timer(timers, sendNow);

  const send = (): void => {
    // At most a second, even if the device clock was set back meanwhile.
    const waitMs = Math.min(lastChangeAt + CHANGE_INTERVAL_MS - timers.now(), CHANGE_INTERVAL_MS);
    if (waitMs > 0) delayed.start(waitMs);
    else sendNow();
  };

  /** Takes the server's state; this device's wishes follow it unless a change of ours is still on its way. */
  const adopt = (state: Partial<OptIns>): void => {
    for (const key of KEYS) {
      reported[key] = state[key] === true;
      if (unanswered === 0 && !delayed.pending) {
        wanted[key] = reported[key];
        chosen[key] = false;
      }
    }
    check();
  };

  const seeing = (): boolean => wanted.seeStrangers && reported.seeStrangers;
  const check = (): void => {
    if (!seeing()) notSeeing();
  };

  return {
    /** Whether others may see this user: wanted, and confirmed by the server. */
    get discoverable(): boolean {
      return wanted.discoverable && reported.discoverable;
    },

    /** Whether this user sees nearby people: wanted, and confirmed by the server. */
    get seeing(): boolean {
      return seeing();
    },

    /** Turns an opt-in on or off; sent when connected, else in the next `init`. */
    set(key: OptIn, on: boolean): void {
      if (wanted[key] === on) return;
      wanted[key] = on;
      chosen[key] = true;
      if (link.connected) send();
      check();
    },

    /**
     * The opt-in fields of a connection's `init`. (An `init` sent again on a connection, after the
     * device clock was set back, names none: the server then keeps the opt-ins as they are.)
     */
    initFields(): Pick<InitFrame, OptIn> {
      const fields: Partial<OptIns> = {};
      for (const key of KEYS) if (wanted[key] || chosen[key]) fields[key] = wanted[key];
      asked = undefined;
      if (Object.keys(fields).length > 0) {
        asked = { ...wanted };
        lastChangeAt = timers.now();
      }
      return fields;
    },

    /**
     * Takes the opt-ins of a snapshot. On a connection's first one, an opt-in changed while its
     * `init` was in flight goes out again (the snapshot does not reflect it).
     */
    snapshot(frame: SnapshotFrame, first: boolean): void {
      if (first) {
        // A server that speaks the opt-ins answers an init naming them with `discovery_state`.
        unanswered = asked !== undefined && frame.discoverable !== undefined ? 1 : 0;
        if (KEYS.some((key) => wanted[key] !== (asked?.[key] ?? false))) send();
      }
      adopt(frame);
    },

    /** A `discovery_state`: the answer to one of our frames, or news from the server. */
    state(frame: DiscoveryStateFrame): void {
      if (unanswered > 0) unanswered--;
      adopt(frame);
    },

    /**
     * The server refused a `discovery` frame as too soon (`rate_limited`: it arrived within a
     * second of the previous one after all, as network delays vary). It is sent again a second
     * later; the `discovery_state` answering the refused frame does not revert it meanwhile.
     */
    limited(): void {
      lastChangeAt = timers.now();
      send();
    },

    /** The connection ended: what is unanswered will never be answered; the next `init` asks again. */
    connectionLost(): void {
      unanswered = 0;
      delayed.stop();
    },

    /** The client closed (signing off ends both opt-ins on the server); `connect()` asks again. */
    closed(): void {
      reported.discoverable = reported.seeStrangers = false;
      notSeeing();
    },
  };
}

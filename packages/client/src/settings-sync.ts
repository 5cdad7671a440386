import type { ClientFrame, ErrorFrame, InitFrame, SnapshotFrame } from '@nearby/protocol';

/** The part of the connection settings sync uses. */
export interface SettingsLink {
  /** True while connected (a snapshot arrived on the current socket). */
  readonly connected: boolean;
  /** Sends a frame; false when the socket is not open or the send failed. */
  send(frame: ClientFrame): boolean;
}

/** Settings the app chose at construction; `undefined` when it left them to the account. */
export interface InitialSettings {
  radiusKm: number | undefined;
  sharing: boolean | undefined;
}

/** Which settings changed while a connection's `init` was in flight and must be sent again. */
export interface SettingsToResend {
  /** The radius changed after `init` was built. */
  radius: boolean;
  /** Sharing changed after `init` was built. */
  sharing: boolean;
}

/** See {@link createSettingsSync}. */
export type SettingsSync = ReturnType<typeof createSettingsSync>;

/**
 * Keeps the account's radius and sharing in step with the server. Both belong to the account,
 * not to this device: another device may change them, and the server then sends a snapshot.
 * The client asks for a change (an option or a setter) until a snapshot confirms it, adopts the
 * server's values otherwise, and never lets a snapshot made before the server saw its latest
 * change revert that change locally.
 *
 * A closure rather than a class: its state is private, and a minifier shortens local names
 * where it must keep property names.
 *
 * @param initial - The `radiusKm` and `sharing` options as given.
 * @param link - The connection.
 */
export function createSettingsSync(initial: InitialSettings, link: SettingsLink) {
  /**
   * The radius this client wants; `undefined` lets the server apply the account's current
   * radius or its default. Follows the server's snapshots except while a change of ours is
   * still unanswered.
   */
  let requestedRadiusKm = initial.radiusKm;
  /** Radius the server last reported in a snapshot. */
  let confirmedRadiusKm: number | undefined;
  /** The server's `maxRadiusKm`, from the last snapshot. */
  let serverMaxRadiusKm: number | null = null;
  /**
   * Whether the user shares their location; same rules as `requestedRadiusKm`. A client that
   * knows nothing yet treats sharing as on until the first snapshot says otherwise.
   */
  let sharingOn = initial.sharing ?? true;
  /**
   * Whether the app changed the radius / sharing (option or setter) and no snapshot has
   * confirmed it yet. Only pending changes travel in `init`: settings belong to the account, and
   * a reconnecting device must not overwrite a change another device made meanwhile.
   */
  let radiusPending = initial.radiusKm !== undefined;
  let sharingPending = initial.sharing !== undefined;
  /** Settings carried by the `init` of the current connection, to spot changes made while it was in flight. */
  let initSettings: { radiusKm: number | undefined; sharing: boolean } | undefined;
  /**
   * `radius` / `sharing` frames (and mid-connection `init`s) sent on this connection that the
   * server has not answered yet (it answers each with a snapshot, or an `invalid_radius`
   * error). Snapshots arriving while some are unanswered were made before our latest change and
   * must not undo it locally.
   */
  let unansweredSettings = 0;

  /** Sends a `radius` or `sharing` frame and counts it as awaiting the server's answer. */
  const sendSetting = (frame: ClientFrame & { type: 'radius' | 'sharing' }): void => {
    if (link.send(frame)) unansweredSettings++;
  };

  return {
    /** The radius this client asks for, else the one the server last reported; `null` if neither is known. */
    get radiusKm(): number | null {
      return requestedRadiusKm ?? confirmedRadiusKm ?? null;
    },

    /** The largest radius the server accepts, from the last snapshot. */
    get maxRadiusKm(): number | null {
      return serverMaxRadiusKm;
    },

    /** Whether this user shares their location. */
    get sharing(): boolean {
      return sharingOn;
    },

    /** Asks for a radius (already validated); sent at once when connected, else in the next `init`. */
    setRadius(radiusKm: number): void {
      if (radiusKm === requestedRadiusKm) return;
      requestedRadiusKm = radiusKm;
      radiusPending = true;
      // Before `connected`, the next `init` (or the first snapshot's check) carries it.
      if (link.connected) sendSetting({ type: 'radius', radiusKm });
    },

    /** Turns sharing on or off; sent at once when connected, else in the next `init`. */
    setSharing(on: boolean): void {
      if (on === sharingOn) return;
      sharingOn = on;
      sharingPending = true;
      if (link.connected) sendSetting({ type: 'sharing', enabled: on });
    },

    /** The settings fields of a connection's `init`, remembered to compare with the first snapshot. */
    initFields(): Pick<InitFrame, 'radiusKm' | 'sharing'> {
      initSettings = { radiusKm: requestedRadiusKm, sharing: sharingOn };
      return {
        ...(radiusPending && requestedRadiusKm !== undefined ? { radiusKm: requestedRadiusKm } : {}),
        // "Not sharing" is always asserted: if the account's saved setting was lost, this device
        // must not let sharing come back on. A conflict between devices thus resolves to off.
        ...(sharingPending || !sharingOn ? { sharing: sharingOn } : {}),
      };
    },

    /**
     * Takes radius and sharing from a snapshot, unless it predates a change of ours: radius and
     * sharing belong to the account, so another device may change them, but a snapshot made
     * before the server saw our latest change must not revert it. Returns which settings must be
     * sent again because they changed while this connection's `init` was in flight.
     */
    adopt(frame: SnapshotFrame, first: boolean): SettingsToResend {
      confirmedRadiusKm = frame.radiusKm;
      serverMaxRadiusKm = frame.maxRadiusKm;
      if (first) {
        unansweredSettings = 0;
        const sent = initSettings;
        const radius = requestedRadiusKm !== undefined && requestedRadiusKm !== sent?.radiusKm;
        const sharing = sent !== undefined && sharingOn !== sent.sharing;
        if (!radius && requestedRadiusKm !== undefined) requestedRadiusKm = frame.radiusKm;
        if (!sharing) sharingOn = frame.sharing;
        // What this init carried is now the account's setting; later inits carry only new changes.
        if (!radius) radiusPending = false;
        if (!sharing) sharingPending = false;
        return { radius, sharing };
      }
      if (unansweredSettings > 0) unansweredSettings--;
      if (unansweredSettings === 0) {
        if (requestedRadiusKm !== undefined) requestedRadiusKm = frame.radiusKm;
        sharingOn = frame.sharing;
        radiusPending = false;
        sharingPending = false;
      }
      return { radius: false, sharing: false };
    },

    /** Sends the settings that changed while `init` was in flight: the first snapshot does not reflect them. */
    resend(changed: SettingsToResend): void {
      if (changed.radius && requestedRadiusKm !== undefined) sendSetting({ type: 'radius', radiusKm: requestedRadiusKm });
      if (changed.sharing) sendSetting({ type: 'sharing', enabled: sharingOn });
    },

    /** Another frame the server answers with a snapshot went out (an `init` restarting the sample order). */
    awaitAnswer(): void {
      unansweredSettings++;
    },

    /** The server refused a radius (`invalid_radius`), from the frame of type `frameType`. */
    radiusRefused(frameType: ErrorFrame['frameType']): void {
      if (frameType === 'radius' && unansweredSettings > 0) unansweredSettings--;
      // Stop asking for a radius the server refuses: the account's current radius (the last one
      // reported) applies again. Unless a newer change of ours is still on its way.
      if (unansweredSettings === 0) {
        requestedRadiusKm = undefined;
        radiusPending = false;
      }
    },

    /** The connection ended: the frames still unanswered will never be answered. */
    connectionLost(): void {
      unansweredSettings = 0;
    },
  };
}

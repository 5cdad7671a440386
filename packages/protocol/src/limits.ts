/** Version of the wire format spoken by this package; sent as `init.v`. */
export const PROTOCOL_VERSION = 1;

/** Hard bounds of the wire format. Servers may be configured tighter, never looser. */
export const Limits = {
  /** Samples in one `location` frame. Clients split larger backlogs over several frames. */
  MAX_SAMPLES_PER_FRAME: 100,
  /** Largest radius any server accepts, in kilometres (servers default to 50). */
  MAX_RADIUS_KM: 20_000,
  /** Largest accuracy value, in metres. */
  MAX_ACCURACY_M: 1_000_000,
  /** Largest `seq` of a location frame (2^31 − 1); clients wrap to 0 after it. */
  MAX_SEQ: 2_147_483_647,
  /** Longest user id, in UTF-16 code units. */
  MAX_USER_ID_LENGTH: 256,
  /** Largest timestamp, in ms since the epoch (the year 2286). */
  MAX_TIMESTAMP_MS: 9_999_999_999_999,
  /** Entries in one `stranger_update` frame, and the largest `strangers.maxPerViewer` a server accepts. */
  MAX_STRANGERS_PER_FRAME: 100,
  /** Longest `NearbyStranger.id`, in UTF-16 code units. */
  MAX_STRANGER_ID_LENGTH: 64,
  /**
   * Longest value of an enumeration that may grow within version 1 (`friend_left.reason`,
   * `stranger_left.reason`, `error.code`, `reconnect.reason`), in UTF-16 code units. Decoders
   * accept any string of 1 … this length there, so that a newer server's value is not refused.
   */
  MAX_ENUM_VALUE_LENGTH: 64,
  /** Largest `NearbyStranger.display`, as UTF-8 bytes of its JSON text; the server drops larger values. */
  MAX_STRANGER_DISPLAY_BYTES: 1024,
} as const;

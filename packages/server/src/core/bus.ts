/**
 * Messages servers exchange over Pub/Sub, on the channel of the user they are about. Internal
 * to @nearby/server (not the client protocol); compact keys because every location update
 * crosses the bus once per interested server.
 *
 * Every message names the sending server (`s`) so a server can skip its own echo: it has
 * already applied the change locally, which keeps local delivery working while the bus is down.
 *
 * Changes carry versions (`v`, from the sender's VersionClock) so that a message that arrives
 * late, twice, or published again after an outage never undoes a newer change.
 */
export type BusMessage =
  /**
   * A user's new shared position; `t` is the server time it was received, `e` the version of
   * the sharing setting it was shared under.
   */
  | { k: 'loc'; s: string; u: string; lat: number; lon: number; t: number; e: number }
  /** The user turned sharing off (`v`: the version of that change). */
  | { k: 'off'; s: string; u: string; v: number }
  /** The user turned sharing on. */
  | { k: 'on'; s: string; u: string; v: number }
  /** The user signed off (closed their last connection on purpose) at server time `t`. */
  | { k: 'bye'; s: string; u: string; t: number }
  /** The user changed their radius (for their devices on other servers). */
  | { k: 'rad'; s: string; u: string; r: number; v: number }
  /** Friend `f` was added to (`fa`) or removed from (`fr`) user `u`. */
  | { k: 'fa' | 'fr'; s: string; u: string; f: string; v: number };

export function encodeBusMessage(message: BusMessage): string {
  return JSON.stringify(message);
}

const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Parses a bus message; anything malformed (another version, a stray publisher) is undefined. */
export function decodeBusMessage(text: string): BusMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (!isString(m.s) || !isString(m.u)) return undefined;
  switch (m.k) {
    case 'loc':
      return isNumber(m.lat) && isNumber(m.lon) && isNumber(m.t) && isNumber(m.e) ? (m as BusMessage) : undefined;
    case 'off':
    case 'on':
      return isNumber(m.v) ? (m as BusMessage) : undefined;
    case 'bye':
      return isNumber(m.t) ? (m as BusMessage) : undefined;
    case 'rad':
      return isNumber(m.r) && isNumber(m.v) ? (m as BusMessage) : undefined;
    case 'fa':
    case 'fr':
      return isString(m.f) && isNumber(m.v) ? (m as BusMessage) : undefined;
    default:
      return undefined;
  }
}

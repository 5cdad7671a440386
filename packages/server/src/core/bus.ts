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
  | { k: 'fa' | 'fr'; s: string; u: string; f: string; v: number }
  /** The user's opt-ins to nearby people changed: `d` discoverable, `w` sees strangers (for their devices on other servers). */
  | { k: 'ds'; s: string; u: string; d: boolean; w: boolean; v: number }
  /**
   * On the channel of cell `g` (not the user's): discoverable user `u` is in display cell `c`,
   * last moved at `t` rounded down to 30 s. Never a position. `v` orders the user's messages.
   */
  | { k: 'sp'; s: string; u: string; g: string; c: string; t: number; v: number }
  /** On the channel of cell `g`: user `u` left it, for cell `n` (`moved`), or is `hidden` or `offline`. */
  | { k: 'sx'; s: string; u: string; g: string; r: 'moved' | 'hidden' | 'offline'; n?: string; v: number }
  /**
   * On the channel of cell `g`: server `s` (also in `u`) just started listening to it; servers
   * that publish discoverable users in that cell publish them again.
   */
  | { k: 'sq'; s: string; u: string; g: string };

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
    case 'ds':
      return typeof m.d === 'boolean' && typeof m.w === 'boolean' && isNumber(m.v) ? (m as BusMessage) : undefined;
    case 'sp':
      return isString(m.g) && isString(m.c) && isNumber(m.t) && isNumber(m.v) ? (m as BusMessage) : undefined;
    case 'sq':
      return isString(m.g) ? (m as BusMessage) : undefined;
    case 'sx':
      return isString(m.g) && isNumber(m.v) && (m.r === 'moved' || m.r === 'hidden' || m.r === 'offline') && (m.n === undefined || isString(m.n))
        ? (m as BusMessage)
        : undefined;
    default:
      return undefined;
  }
}

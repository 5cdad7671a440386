/**
 * Messages servers exchange over Pub/Sub, on the channel of the user they are about. Internal
 * to @nearby/server (not the client protocol); compact keys because every location update
 * crosses the bus once per interested server.
 *
 * Every message names the sending server (`s`) so a server can skip its own echo: it has
 * already applied the change locally, which keeps local delivery working while the bus is down.
 */
export type BusMessage =
  /** A user's new shared position; `t` is the server time it was received. */
  | { k: 'loc'; s: string; u: string; lat: number; lon: number; t: number }
  /** The user turned sharing off. */
  | { k: 'off'; s: string; u: string }
  /** The user turned sharing on. */
  | { k: 'on'; s: string; u: string }
  /** The user signed off (closed their last connection on purpose). */
  | { k: 'bye'; s: string; u: string }
  /** The user changed their radius (for their devices on other servers). */
  | { k: 'rad'; s: string; u: string; r: number }
  /** Friend `f` was added to (`fa`) or removed from (`fr`) user `u`. */
  | { k: 'fa' | 'fr'; s: string; u: string; f: string };

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
      return isNumber(m.lat) && isNumber(m.lon) && isNumber(m.t) ? (m as BusMessage) : undefined;
    case 'off':
    case 'on':
    case 'bye':
      return m as BusMessage;
    case 'rad':
      return isNumber(m.r) ? (m as BusMessage) : undefined;
    case 'fa':
    case 'fr':
      return isString(m.f) ? (m as BusMessage) : undefined;
    default:
      return undefined;
  }
}

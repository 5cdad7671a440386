/**
 * Hands out versions for changes a server makes (a sharing, radius or friendship change, a
 * sign-off): the server's clock in ms, made strictly greater than the previous version it
 * handed out and than any version the change must follow. Versions from different processes
 * compare by their clocks, so a change made later wins wherever the two meet; a change that
 * follows a known one always wins over it, whatever the clocks say.
 */
export class VersionClock {
  readonly #now: () => number;
  #last = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** A new version, greater than `after` and than every version handed out before. */
  next(after = 0): number {
    const version = Math.max(Math.floor(this.#now()), this.#last + 1, Math.floor(after) + 1);
    this.#last = version;
    return version;
  }
}

/**
 * Hands out versions for changes a server makes (a sharing, radius or friendship change, a
 * sign-off): the server's clock in ms, made greater than the version of the change it follows.
 * Versions from different processes compare by their clocks, so a change made later wins
 * wherever the two meet; a change that follows a known one always wins over it, whatever the
 * clocks say.
 */
export class VersionClock {
  readonly #now: () => number;
  #lastUnique = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** A version for a change that follows version `after` of the same subject (a user's sharing setting, say). */
  next(after: number): number {
    return Math.max(Math.floor(this.#now()), Math.floor(after) + 1);
  }

  /**
   * A version greater than every one this method handed out before, for changes whose previous
   * version this process may not know (friendships: the users may be connected elsewhere). It
   * runs ahead of the clock only while more than one is asked for per millisecond.
   */
  nextUnique(): number {
    this.#lastUnique = Math.max(Math.floor(this.#now()), this.#lastUnique + 1);
    return this.#lastUnique;
  }
}

import type { SettingsStore, UserSettings } from '../types.js';
import { mergeSettings } from '../entries.js';

/**
 * In-process account settings: the default of a server without `pubsub` (one process), and the
 * reference {@link SettingsStore}. One small entry per user who ever changed a setting, kept
 * for the life of the process. Servers in one Node process that share an instance share
 * settings, as processes sharing Redis do.
 */
export class MemorySettingsStore implements SettingsStore {
  readonly #settings = new Map<string, UserSettings>();

  /** Number of users with saved settings. */
  get size(): number {
    return this.#settings.size;
  }

  async get(userId: string): Promise<UserSettings | undefined> {
    const settings = this.#settings.get(userId);
    // A copy: a caller changing what it read must not change what is stored.
    return settings === undefined ? undefined : { ...settings };
  }

  async set(userId: string, settings: UserSettings): Promise<void> {
    this.#settings.set(userId, mergeSettings(this.#settings.get(userId), settings));
  }
}

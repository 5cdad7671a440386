import type { PresenceRegistry } from '../types.js';

/**
 * In-process presence: the default of a server without `pubsub` (one process), and the
 * reference {@link PresenceRegistry}. Servers in one Node process that share an instance share
 * presence. It has no `expiryMs`: a server in the same process cannot crash on its own.
 */
export class MemoryPresenceRegistry implements PresenceRegistry {
  readonly #holders = new Map<string, Set<string>>();

  /** Number of users held by at least one server. */
  get size(): number {
    return this.#holders.size;
  }

  async add(userId: string, serverId: string): Promise<void> {
    let servers = this.#holders.get(userId);
    if (servers === undefined) this.#holders.set(userId, (servers = new Set()));
    servers.add(serverId);
  }

  async remove(userId: string, serverId: string): Promise<number> {
    const servers = this.#holders.get(userId);
    if (servers === undefined) return 0;
    servers.delete(serverId);
    if (servers.size === 0) this.#holders.delete(userId);
    return servers.size;
  }

  /** Forgets every holder. */
  async close(): Promise<void> {
    this.#holders.clear();
  }
}

import type { Redis } from 'ioredis';
import type { SettingsStore, UserSettings } from '../types.js';
import { globalTimers, type Timers } from '../timers.js';
import { closeClient, whenReady } from './connection.js';
import { checkOptionKeys, optionKeys } from '@nearby/protocol';

export interface RedisSettingsStoreOptions {
  /** Command connection (not a subscriber connection); may be shared with the location cache and presence. */
  client: Redis;
  /** Prefix of every key: `<prefix>set:<id>`. Default `nearby:`. */
  keyPrefix?: string;
  /** How long `connect()` waits for Redis. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** Whether `close()` also closes `client` (true when the store created it). Default false. */
  ownsClient?: boolean;
  /** Clock and timers (the connect and close timeouts). Default: the globals, looked up at call time. */
  timers?: Timers;
}

/** Every key of {@link RedisSettingsStoreOptions}; any other is refused. */
const REDIS_SETTINGS_STORE_OPTION_KEYS = optionKeys<RedisSettingsStoreOptions>()([
  'client',
  'keyPrefix',
  'connectTimeoutMs',
  'ownsClient',
  'timers',
]);

/**
 * Saves settings field by field, keeping the value with the higher version (`r,s,rv,sv`; a
 * value saved without versions counts as version 0). Compares numbers but writes the strings it
 * was given or found, so no number formatting happens in Lua.
 */
const MERGE_SETTINGS_SCRIPT = `
local r, s, rv, sv = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current = redis.call('GET', KEYS[1])
if current then
  local cr, cs, crv, csv = string.match(current, '^([^,]*),([^,]*),?([^,]*),?([^,]*)$')
  if cr then
    if crv == '' then crv = '0' end
    if csv == '' then csv = '0' end
    if tonumber(crv) > tonumber(rv) then r = cr; rv = crv end
    if tonumber(csv) > tonumber(sv) then s = cs; sv = csv end
  end
end
redis.call('SET', KEYS[1], r .. ',' .. s .. ',' .. rv .. ',' .. sv)
return 1
`;

type MergingRedis = Redis & { nearbyMergeSettings(key: string, r: string, s: string, rv: string, sv: string): Promise<number> };

/**
 * Account settings in Redis: one key per user, `<prefix>set:<id>` =
 * `radiusKm,sharing,radiusVersion,sharingVersion` (sharing `1` or `0`), without expiry. A read
 * is one `GET`; a write is one script call that merges per field by version on the server, so
 * concurrent writers from several processes never undo a newer change.
 */
export class RedisSettingsStore implements SettingsStore {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #connectTimeoutMs: number;
  readonly #ownsClient: boolean;
  readonly #timers: Timers;

  constructor(options: RedisSettingsStoreOptions) {
    checkOptionKeys(options, REDIS_SETTINGS_STORE_OPTION_KEYS);
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? 'nearby:';
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#ownsClient = options.ownsClient ?? false;
    this.#timers = options.timers ?? globalTimers;
    // Defined once per client, however many stores share it.
    if (typeof (this.#client as unknown as Partial<MergingRedis>).nearbyMergeSettings !== 'function') {
      this.#client.defineCommand('nearbyMergeSettings', { numberOfKeys: 1, lua: MERGE_SETTINGS_SCRIPT });
    }
  }

  connect(): Promise<void> {
    return whenReady(this.#client, this.#connectTimeoutMs, this.#timers);
  }

  async get(userId: string): Promise<UserSettings | undefined> {
    return decodeSettings(await this.#client.get(this.#key(userId)));
  }

  async set(userId: string, settings: UserSettings): Promise<void> {
    await (this.#client as unknown as MergingRedis).nearbyMergeSettings(
      this.#key(userId),
      String(settings.radiusKm),
      settings.sharing ? '1' : '0',
      String(settings.radiusVersion ?? 0),
      String(settings.sharingVersion ?? 0),
    );
  }

  /** Closes the client when the store owns it; a shared one is closed by its owner. */
  async close(): Promise<void> {
    if (this.#ownsClient) await closeClient(this.#client, this.#timers);
  }

  #key(userId: string): string {
    return `${this.#prefix}set:${userId}`;
  }
}

/** Settings as stored: `radiusKm,sharing[,radiusVersion,sharingVersion]`; `undefined` when missing or unreadable. */
export function decodeSettings(value: string | null): UserSettings | undefined {
  if (value === null) return undefined;
  const [radius, sharing, radiusVersion, sharingVersion] = value.split(',');
  const radiusKm = Number(radius);
  if (!Number.isFinite(radiusKm) || radiusKm <= 0 || (sharing !== '1' && sharing !== '0')) return undefined;
  return {
    radiusKm,
    sharing: sharing === '1',
    radiusVersion: finiteOr(Number(radiusVersion ?? 0), 0),
    sharingVersion: finiteOr(Number(sharingVersion ?? 0), 0),
  };
}

function finiteOr(value: number, fallback: number): number {
  return Number.isFinite(value) ? value : fallback;
}

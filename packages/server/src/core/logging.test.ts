import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { manualTimers } from '../manual-timers.test-support.js';
import { resolveEngineOptions } from './engine-options.js';
import { ADAPTER_REPEAT_INTERVAL_MS, consoleLogger, EngineLog } from './logging.js';
import type { NearbyLogger } from './telemetry.js';

interface Entry {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

/** A logger keeping every record, in order. */
function recorder(): NearbyLogger & { entries: Entry[]; events(): string[] } {
  const entries: Entry[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => entries.push({ level, fields, message });
  return {
    entries,
    events: () => entries.map((entry) => String(entry.fields.event)),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

const friends = { getFriends: async () => [] as string[] };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('EngineLog: repeated adapter failures collapsed', () => {
  it('logs the first failure, then one count per interval, then the recovery with the total', () => {
    const timers = manualTimers(1_000);
    const logger = recorder();
    const log = new EngineLog(logger, timers);
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:6390');
    for (let i = 0; i < 4; i++) log.adapterFailed('cache', 'set', refused);
    log.adapterFailed('cache', 'getMany', refused);
    expect(logger.events()).toEqual(['adapter_unavailable', 'adapter_unavailable']);
    expect(logger.entries[0]).toMatchObject({
      level: 'error',
      fields: { event: 'adapter_unavailable', adapter: 'cache', operation: 'set', reason: refused.message, err: refused },
    });

    timers.advance(ADAPTER_REPEAT_INTERVAL_MS - 1);
    expect(logger.entries).toHaveLength(2);
    timers.advance(1);
    expect(logger.entries.slice(2)).toEqual([
      {
        level: 'warn',
        fields: { event: 'adapter_errors_repeated', adapter: 'cache', operation: 'set', count: 3, reason: refused.message, err: refused },
        message: `cache set failed 3 more time(s): ${refused.message}`,
      },
    ]);

    // An interval without further failures writes nothing.
    timers.advance(ADAPTER_REPEAT_INTERVAL_MS);
    expect(logger.entries).toHaveLength(3);

    log.adapterFailed('cache', 'set', refused);
    log.adapterFailed('cache', 'set', refused);
    log.adapterRecovered('cache', 25_000, 7);
    expect(logger.entries.slice(3).map((entry) => [entry.level, entry.fields.event, entry.fields.count])).toEqual([
      ['warn', 'adapter_errors_repeated', 2],
      ['info', 'adapter_recovered', 7],
    ]);
    expect(logger.entries[4]!.fields).toMatchObject({ adapter: 'cache', durationMs: 25_000 });
    // Recovered: the repeat timer is gone, and the next failure is a first one again.
    expect(timers.active).toBe(0);
    log.adapterFailed('cache', 'set', refused);
    expect(logger.events().at(-1)).toBe('adapter_unavailable');
    log.stop();
    expect(timers.active).toBe(0);
  });

  it('keeps the operations of other adapters down when one recovers', () => {
    const timers = manualTimers();
    const logger = recorder();
    const log = new EngineLog(logger, timers);
    log.adapterFailed('cache', 'set', new Error('a'));
    log.adapterFailed('pubsub', 'publish', new Error('b'));
    log.adapterRecovered('cache', 10, 1);
    log.adapterFailed('pubsub', 'publish', new Error('c'));
    timers.advance(ADAPTER_REPEAT_INTERVAL_MS);
    expect(logger.entries.at(-1)).toMatchObject({ fields: { event: 'adapter_errors_repeated', adapter: 'pubsub', count: 1, reason: 'c' } });
  });

  it('builds no record without a logger, and survives a logger that throws', () => {
    const timers = manualTimers();
    const silent = new EngineLog(undefined, timers);
    silent.adapterFailed('cache', 'set', new Error('x'));
    expect(timers.active).toBe(0);
    const throwing: NearbyLogger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: () => {
        throw new Error('logger broke');
      },
    };
    expect(() => new EngineLog(throwing, timers).internalError('x', new Error('y'))).not.toThrow();
  });

  it('logs server closes for idleness, rate limits and failures at info, other closes at debug', () => {
    const logger = recorder();
    const log = new EngineLog(logger, manualTimers());
    log.connectionClosed(1, 'alice', 4008, 'idle timeout', true);
    log.connectionClosed(2, 'bob', 1012, 'draining', true);
    log.connectionClosed(3, 'carol', 4008, '', false);
    expect(logger.entries.map((entry) => [entry.level, entry.fields.connectionId, entry.fields.code])).toEqual([
      ['info', 1, 4008],
      ['debug', 2, 1012],
      ['debug', 3, 4008],
    ]);
  });
});

describe('consoleLogger', () => {
  it('prints warnings and errors only, one line each', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const logger = consoleLogger();
    logger.debug({ event: 'connection_accepted' }, 'quiet');
    logger.info({ event: 'drain_started' }, 'quiet');
    logger.warn({ event: 'adapter_errors_repeated', adapter: 'cache', count: 3, err: new Error('two\nlines') }, 'cache set failed 3 more time(s)');
    logger.error({ event: 'internal_error', operation: 'init failed' }, 'boom');
    expect(log).not.toHaveBeenCalled();
    expect(warn).toHaveBeenCalledWith('[nearby] warn adapter_errors_repeated: cache set failed 3 more time(s) adapter=cache count=3 err="two\\nlines"');
    expect(error).toHaveBeenCalledWith('[nearby] error internal_error: boom operation="init failed"');
  });
});

describe('logger option', () => {
  it('defaults to the console at warn without onError, to nothing with onError alone, and takes false or a logger', () => {
    expect(resolveEngineOptions({ friends }).logger).toBeDefined();
    expect(resolveEngineOptions({ friends, onError: () => {} }).logger).toBeUndefined();
    expect(resolveEngineOptions({ friends, logger: false }).logger).toBeUndefined();
    const logger = recorder();
    expect(resolveEngineOptions({ friends, logger, onError: () => {} }).logger).toBe(logger);
  });

  it('refuses something that is not a logger, naming the option', () => {
    for (const logger of [{}, 'pino', { debug() {}, info() {}, warn() {} }, null]) {
      let thrown: unknown;
      try {
        resolveEngineOptions({ friends, logger: logger as unknown as NearbyLogger });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(NearbyError);
      expect((thrown as NearbyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect((thrown as Error).message).toMatch(/logger/);
    }
  });
});

import { describe, expect, it, vi } from 'vitest';
import { Emitter } from './emitter.js';

interface Events {
  tick: (n: number) => void;
  pair: (a: string, b: string) => void;
}

describe('Emitter', () => {
  it('calls listeners in order with typed arguments; on() returns an unsubscribe', () => {
    const emitter = new Emitter<Events>(() => {});
    const calls: string[] = [];
    const off = emitter.on('tick', (n) => calls.push(`a${n}`));
    emitter.on('tick', (n) => calls.push(`b${n}`));
    emitter.on('pair', (a, b) => calls.push(a + b));
    emitter.emit('tick', 1);
    emitter.emit('pair', 'x', 'y');
    off();
    emitter.emit('tick', 2);
    expect(calls).toEqual(['a1', 'b1', 'xy', 'b2']);
  });

  it('off() removes a listener and ignores unknown ones', () => {
    const emitter = new Emitter<Events>(() => {});
    const listener = vi.fn();
    emitter.on('tick', listener);
    emitter.off('tick', () => {});
    emitter.off('pair', () => {});
    emitter.off('tick', listener);
    emitter.emit('tick', 1);
    expect(listener).not.toHaveBeenCalled();
  });

  it('routes a throwing listener to onError and still calls the others', () => {
    const onError = vi.fn();
    const emitter = new Emitter<Events>(onError);
    const boom = new Error('boom');
    const after = vi.fn();
    emitter.on('tick', () => {
      throw boom;
    });
    emitter.on('tick', after);
    expect(() => emitter.emit('tick', 1)).not.toThrow();
    expect(onError).toHaveBeenCalledWith(boom, 'tick');
    expect(after).toHaveBeenCalledWith(1);
  });

  it('lets a listener unsubscribe others during an emit without skipping or crashing', () => {
    const emitter = new Emitter<Events>(() => {});
    const second = vi.fn();
    emitter.on('tick', () => emitter.off('tick', second));
    emitter.on('tick', second);
    emitter.emit('tick', 1);
    emitter.emit('tick', 2);
    expect(second).toHaveBeenCalledTimes(1);
  });

  it('emitting without listeners is a no-op', () => {
    const emitter = new Emitter<Events>(() => {});
    expect(() => emitter.emit('tick', 1)).not.toThrow();
  });
});

import { describe, expect, it, vi } from 'vitest';
import { StaticDiscovery } from './static-discovery.js';

describe('StaticDiscovery', () => {
  it('lists its nodes, and tells watchers about every change until they unsubscribe', async () => {
    const discovery = new StaticDiscovery([{ id: 'a', url: 'redis://10.0.0.1:6379' }]);
    expect(await discovery.getNodes()).toEqual([{ id: 'a', url: 'redis://10.0.0.1:6379' }]);
    const listener = vi.fn();
    const stop = discovery.watch(listener);
    const next = [
      { id: 'a', url: 'redis://10.0.0.1:6379' },
      { id: 'b', url: 'redis://10.0.0.2:6379' },
    ];
    discovery.setNodes(next);
    expect(listener).toHaveBeenCalledWith(next);
    expect(await discovery.getNodes()).toEqual(next);
    stop();
    discovery.setNodes([]);
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('refuses duplicate ids and nodes without id or url, keeping the previous list', async () => {
    const discovery = new StaticDiscovery([{ id: 'a', url: 'redis://a' }]);
    expect(() => discovery.setNodes([{ id: 'a', url: 'redis://a' }, { id: 'a', url: 'redis://b' }])).toThrow(/duplicate/);
    expect(() => discovery.setNodes([{ id: '', url: 'redis://a' }])).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(await discovery.getNodes()).toEqual([{ id: 'a', url: 'redis://a' }]);
  });
});

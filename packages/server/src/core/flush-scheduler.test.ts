import { describe, expect, it } from 'vitest';
import { FlushScheduler } from './flush-scheduler.js';

describe('FlushScheduler', () => {
  it('runs every flush queued in one phase together, once, in order, and rearms for the next phase', async () => {
    const scheduler = new FlushScheduler();
    const ran: string[] = [];
    scheduler.schedule(() => ran.push('a'));
    scheduler.schedule(() => ran.push('b'));
    expect(ran).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'b']);
    scheduler.schedule(() => ran.push('c'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('keeps flushing the others when one throws', async () => {
    const scheduler = new FlushScheduler();
    const ran: string[] = [];
    scheduler.schedule(() => {
      throw new Error('socket gone');
    });
    scheduler.schedule(() => ran.push('after'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['after']);
  });
});

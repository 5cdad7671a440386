import { describe, expect, it } from 'vitest';
import { BusHealth } from './bus-health.js';
import { manualTimers } from '../manual-timers.test-support.js';

function setup() {
  const timers = manualTimers(1_000_000);
  const sent: number[] = [];
  const events: string[] = [];
  const health = new BusHealth({
    timers,
    intervalMs: 1_000,
    publish: (seq) => sent.push(seq),
    onDown: () => events.push('down'),
    onUp: () => events.push('up'),
  });
  return { timers, sent, events, health };
}

describe('BusHealth', () => {
  it('publishes a numbered probe every interval and stays up while they come back', () => {
    const { timers, sent, events, health } = setup();
    health.start();
    for (let i = 0; i < 5; i++) {
      health.echo(sent.at(-1)!);
      timers.advance(1_000);
    }
    expect(sent).toEqual([1, 2, 3, 4, 5, 6]);
    expect(health.confirmedSeq).toBe(5);
    expect(events).toEqual([]);
    expect(health.up).toBe(true);
  });

  it('goes down after three intervals without an echo, and up at the first echo after that', () => {
    const { timers, sent, events, health } = setup();
    health.start();
    health.echo(1);
    timers.advance(3_000);
    expect(events).toEqual([]);
    timers.advance(1_000);
    expect(events).toEqual(['down']);
    expect(health.up).toBe(false);
    timers.advance(5_000);
    expect(events).toEqual(['down']);
    health.echo(sent.at(-1)!);
    expect(events).toEqual(['down', 'up']);
    expect(health.up).toBe(true);
  });

  it('ignores echoes of probes it never sent, and old ones', () => {
    const { timers, events, health } = setup();
    health.start();
    timers.advance(4_000);
    expect(events).toEqual(['down']);
    health.echo(99);
    health.echo(0);
    expect(health.up).toBe(false);
    health.echo(3);
    health.echo(2);
    expect(health.confirmedSeq).toBe(3);
    expect(events).toEqual(['down', 'up']);
  });

  it('stop clears its timer', () => {
    const { timers, health } = setup();
    health.start();
    expect(timers.active).toBe(1);
    health.stop();
    expect(timers.active).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { systemClock, VirtualClock } from './clock.js';
import { expectCode } from './conformance.fixture.js';

describe('VirtualClock', () => {
  it('wakes concurrent sleepers in deadline order, advancing time to each deadline', async () => {
    const clock = new VirtualClock(1000);
    const woke: Array<[string, number]> = [];
    await Promise.all([
      clock.sleep(300).then(() => woke.push(['c', clock.now()])),
      clock.sleep(100).then(() => woke.push(['a', clock.now()])),
      clock.sleep(200).then(() => woke.push(['b', clock.now()])),
    ]);
    expect(woke).toEqual([
      ['a', 1100],
      ['b', 1200],
      ['c', 1300],
    ]);
  });

  it('advance() wakes due sleepers by hand; an aborted sleep rejects', async () => {
    const clock = new VirtualClock();
    const controller = new AbortController();
    const aborted = clock.sleep(50, controller.signal);
    controller.abort();
    await expectCode(aborted, 'Aborted');
    let woke = false;
    const sleeping = clock.sleep(30).then(() => (woke = true));
    clock.advance(10);
    await Promise.resolve();
    expect(woke).toBe(false);
    clock.advance(25);
    await sleeping;
    expect(clock.now()).toBe(35);
  });
});

describe('systemClock', () => {
  it('sleeps in real time and can be aborted', async () => {
    const t0 = systemClock.now();
    await systemClock.sleep(20);
    expect(systemClock.now() - t0).toBeGreaterThanOrEqual(15);
    const controller = new AbortController();
    const pending = systemClock.sleep(60_000, controller.signal);
    controller.abort();
    await expectCode(pending, 'Aborted');
  });
});

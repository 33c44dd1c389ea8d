/** Start windows: a stable per-schedule offset, spread over the window, applied by the planner to every run. */
import { describe, expect, it } from 'vitest';
import { planSchedule } from './plan.js';
import { startWindowOf, StartWindowError } from './window.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MIDNIGHT = Date.parse('2030-01-01T00:00:00Z');

describe('startWindowOf', () => {
  it('gives one schedule the same offset every time and 500 schedules offsets spread over the day', () => {
    const one = () => startWindowOf({ namespace: 'shop', name: 'nightly', schedule: '@daily-random' });
    expect(one()).toEqual(one());
    expect(one()).toMatchObject({ expression: '@daily', windowMs: DAY });
    const offsets = Array.from({ length: 500 }, (_, i) => startWindowOf({ namespace: `tenant-${i}`, name: 'nightly', schedule: '@daily-random' }).offsetMs);
    for (const o of offsets) expect(o % 1000 === 0 && o >= 0 && o < DAY).toBe(true);
    // No hour of the day holds more than twice its share (500/24 ≈ 21), and none is empty.
    const perHour = Array.from({ length: 24 }, (_, h) => offsets.filter((o) => Math.floor(o / HOUR) === h).length);
    expect(Math.max(...perHour)).toBeLessThan(42);
    expect(Math.min(...perHour)).toBeGreaterThan(0);
    expect(new Set(offsets).size).toBeGreaterThan(490);
  });

  it('reads spec.startWindow, and refuses a bad one or one beside a -random macro', () => {
    expect(startWindowOf({ namespace: 'a', name: 'b', schedule: '0 2 * * *', startWindow: '30m' })).toMatchObject({ expression: '0 2 * * *', windowMs: 30 * 60_000 });
    expect(startWindowOf({ namespace: 'a', name: 'b', schedule: '0 2 * * *' })).toEqual({ expression: '0 2 * * *', windowMs: 0, offsetMs: 0 });
    expect(() => startWindowOf({ namespace: 'a', name: 'b', schedule: '@daily', startWindow: 'soon' })).toThrow(StartWindowError);
    expect(() => startWindowOf({ namespace: 'a', name: 'b', schedule: '@daily', startWindow: '800h' })).toThrow(/between 0s and 744h/);
    expect(() => startWindowOf({ namespace: 'a', name: 'b', schedule: '@daily-random', startWindow: '1h' })).toThrow(/remove spec.startWindow/);
  });
});

describe('the planner with a start window', () => {
  const spec = { schedule: '@daily', startWindow: '6h', template: {} };
  const offset = startWindowOf({ namespace: 'shop', name: 'nightly', schedule: '@daily', startWindow: '6h' }).offsetMs;
  const plan = (now: number, nextScheduleTime?: string) =>
    planSchedule({ name: 'nightly', namespace: 'shop', spec, status: nextScheduleTime ? { phase: 'Active', nextScheduleTime, observedGeneration: 1 } : {}, generation: 1, createdAt: MIDNIGHT - HOUR, now, backups: [] });

  it('moves the next run and the run itself by the offset; nothing starts at midnight', () => {
    const first = plan(MIDNIGHT - HOUR + 1000);
    expect(first.nextScheduleTime).toBe(MIDNIGHT + offset);
    expect(first.condition.message).toMatch(/within a 6h0m0s start window/);
    const atMidnight = plan(MIDNIGHT + 1000, new Date(first.nextScheduleTime!).toISOString());
    expect(offset > 1000 ? atMidnight.create : []).toEqual([]);
    const due = plan(MIDNIGHT + offset + 1000, new Date(first.nextScheduleTime!).toISOString());
    expect(due.create.map((r) => r.scheduledTime)).toEqual([MIDNIGHT + offset]);
    expect(due.nextScheduleTime).toBe(MIDNIGHT + DAY + offset);
  });

  it('an invalid window makes the schedule Invalid with reason InvalidStartWindow', () => {
    const p = planSchedule({ name: 'x', namespace: 'shop', spec: { schedule: '@daily-random', startWindow: '1h', template: {} }, status: {}, createdAt: MIDNIGHT, now: MIDNIGHT, backups: [] });
    expect(p.phase).toBe('Invalid');
    expect(p.condition).toMatchObject({ reason: 'InvalidStartWindow' });
  });
});

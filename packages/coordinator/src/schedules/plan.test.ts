import { describe, expect, it } from 'vitest';
import type { V1alpha1BackupScheduleSpec, V1alpha1BackupScheduleStatus } from '@ferry/api';
import { ManualClock } from '../clock.js';
import { backupNameFor, planSchedule, scheduleStatus, type ScheduleBackupView, type SchedulePlan } from './plan.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const t = (iso: string) => Date.parse(iso);

/** One schedule's world: its spec, stored status and Backups; `tick` reconciles like the controller. */
class World {
  status: V1alpha1BackupScheduleStatus = {};
  backups: ScheduleBackupView[] = [];
  generation = 1;
  readonly clock: ManualClock;
  readonly createdAt: number;

  constructor(public spec: V1alpha1BackupScheduleSpec, start: string, readonly name = 'nightly') {
    this.createdAt = t(start);
    this.clock = new ManualClock(this.createdAt);
  }

  tick(): SchedulePlan {
    const now = this.clock.now();
    const plan = planSchedule({ name: this.name, spec: this.spec, status: this.status, generation: this.generation, createdAt: this.createdAt, now, backups: this.backups });
    for (const c of plan.cancel) this.backups = this.backups.map((b) => (b.name === c ? { ...b, cancel: true } : b));
    for (const r of plan.create) if (!this.backups.some((b) => b.name === r.name)) this.backups.push({ name: r.name, phase: 'InProgress', creationTimestamp: now });
    this.status = scheduleStatus(plan, this.status, now, this.generation);
    return plan;
  }

  finish(name: string, phase = 'Completed'): void {
    this.backups = this.backups.map((b) => (b.name === name ? { ...b, phase, completionTimestamp: this.clock.now() } : b));
  }

  at(iso: string): this {
    this.clock.advance(t(iso) - this.clock.now());
    return this;
  }
}

const hourly: V1alpha1BackupScheduleSpec = { schedule: '0 * * * *', template: {} };
const created = (p: SchedulePlan) => p.create.map((r) => r.name);
const reasons = (p: SchedulePlan) => p.notes.map((n) => n.reason);

describe('planner: runs on time', () => {
  it('creates one Backup per run, named by the scheduled time in UTC, and points at the next run', () => {
    const w = new World({ ...hourly, schedule: '30 2 * * *', timeZone: 'Europe/Berlin' }, '2026-03-28T12:00:00Z');
    expect(created(w.tick())).toEqual([]);
    expect(w.status).toMatchObject({ phase: 'Active', nextScheduleTime: '2026-03-29T01:00:00Z' });
    expect(w.status.conditions?.[0]).toMatchObject({ type: 'Scheduled', status: 'True', reason: 'ScheduleValid' });
    // Spring forward: 02:30 does not exist in Berlin on 29 March; the run is at 03:00 CEST (01:00Z).
    w.at('2026-03-29T01:00:00.200Z');
    expect(created(w.tick())).toEqual(['nightly-20260329010000']);
    expect(w.status).toMatchObject({ lastScheduleTime: '2026-03-29T01:00:00Z', lastBackup: 'nightly-20260329010000', active: ['nightly-20260329010000'], nextScheduleTime: '2026-03-30T00:30:00Z' });
    // Woken again before the next run (a Backup event): nothing new.
    w.finish('nightly-20260329010000');
    w.clock.advance(HOUR);
    expect(created(w.tick())).toEqual([]);
    expect(w.status.active).toBeUndefined();
    expect(w.status.lastSuccessfulTime).toBe('2026-03-29T01:00:00Z');
  });

  it('hourly in Europe/Berlin across the fall-back night: ticking every 30 minutes, the repeated 02:00 runs once', () => {
    const w = new World({ ...hourly, timeZone: 'Europe/Berlin' }, '2026-10-24T22:30:00Z');
    const made: string[] = [];
    for (let i = 0; i < 10; i++) {
      w.clock.advance(30 * MIN);
      made.push(...created(w.tick()));
      for (const b of w.backups) w.finish(b.name);
    }
    // 01:00 CEST, 02:00 CEST, (02:00 CET skipped), 03:00 CET, 04:00 CET — in UTC:
    expect(made).toEqual(['nightly-20261024230000', 'nightly-20261025000000', 'nightly-20261025020000', 'nightly-20261025030000']);
  });

  it('backupNameFor pads every field', () => {
    expect(backupNameFor('s', t('2026-01-02T03:04:05Z'))).toBe('s-20260102030405');
  });
});

describe('planner: missed windows after downtime', () => {
  function downFrom11To1530(spec: Partial<V1alpha1BackupScheduleSpec>): { w: World; plan: SchedulePlan } {
    const w = new World({ ...hourly, ...spec }, '2026-05-01T11:00:01Z');
    w.tick();
    w.finish('nightly-20260501110000');
    w.at('2026-05-01T15:30:00Z');
    return { w, plan: w.tick() };
  }

  it('default maxCatchUp 1: only the most recent missed run starts; the rest are reported', () => {
    const { w, plan } = downFrom11To1530({});
    expect(created(plan)).toEqual(['nightly-20260501150000']);
    expect(plan.notes.find((n) => n.reason === 'MissedRuns')?.message).toBe('3 missed runs from 2026-05-01T12:00:00Z to 2026-05-01T14:00:00Z not started: maxCatchUp is 1, so only the most recent 1 start');
    expect(w.status.nextScheduleTime).toBe('2026-05-01T16:00:00Z');
    // The runs are considered once: the next reconcile starts nothing and reports nothing.
    w.clock.advance(MIN);
    expect(w.tick()).toMatchObject({ create: [], notes: [] });
  });

  it('maxCatchUp 2 starts the two most recent, oldest first; 0 starts none of the late ones', () => {
    expect(created(downFrom11To1530({ maxCatchUp: 2 }).plan)).toEqual(['nightly-20260501140000', 'nightly-20260501150000']);
    const none = downFrom11To1530({ maxCatchUp: 0 }).plan;
    expect(created(none)).toEqual([]);
    expect(none.notes[0]?.message).toMatch(/^4 missed runs from 2026-05-01T12:00:00Z to 2026-05-01T15:00:00Z not started: maxCatchUp is 0 and they are more than 5 minutes late$/);
  });

  it('maxCatchUp 0 still starts a run that is only a little late', () => {
    const w = new World({ ...hourly, maxCatchUp: 0 }, '2026-05-01T10:30:00Z');
    w.tick();
    w.at('2026-05-01T11:04:00Z');
    expect(created(w.tick())).toEqual(['nightly-20260501110000']);
  });

  it('an every-minute schedule down for a year: one Backup, a bounded count, no million-step loop', () => {
    const w = new World({ ...hourly, schedule: '* * * * *', timeZone: 'America/New_York' }, '2026-05-01T00:00:00Z');
    w.status = { phase: 'Active', observedGeneration: 1, nextScheduleTime: '2025-05-01T00:00:00Z', lastScheduleTime: '2025-04-30T23:59:00Z' };
    const started = performance.now();
    const plan = w.tick();
    expect(performance.now() - started).toBeLessThan(500);
    expect(created(plan)).toEqual(['nightly-20260501000000']);
    expect(plan.notes[0]?.message).toMatch(/^more than 99 missed runs up to 2026-04-30T23:59:00Z not started/);
  });
});

describe('planner: overlapping runs', () => {
  it('Forbid skips a run while the previous Backup runs, and does not start it late', () => {
    const w = new World(hourly, '2026-05-01T11:00:00Z');
    w.tick();
    w.at('2026-05-01T12:00:00Z');
    const skipped = w.tick();
    expect(created(skipped)).toEqual([]);
    expect(skipped.notes).toEqual([{ type: 'Warning', reason: 'ConcurrencyForbid', message: 'run(s) at 2026-05-01T12:00:00Z skipped: Backup(s) nightly-20260501110000 still running and concurrencyPolicy is Forbid' }]);
    expect(w.status).toMatchObject({ lastBackup: 'nightly-20260501110000', active: ['nightly-20260501110000'], nextScheduleTime: '2026-05-01T13:00:00Z' });
    w.at('2026-05-01T12:20:00Z');
    w.finish('nightly-20260501110000');
    expect(w.tick()).toMatchObject({ create: [], notes: [] });
    w.at('2026-05-01T13:00:00Z');
    expect(created(w.tick())).toEqual(['nightly-20260501130000']);
  });

  it('Replace cancels the running Backup and starts the new one', () => {
    const w = new World({ ...hourly, concurrencyPolicy: 'Replace' }, '2026-05-01T11:00:00Z');
    w.tick();
    w.at('2026-05-01T12:00:00Z');
    const plan = w.tick();
    expect(plan.cancel).toEqual(['nightly-20260501110000']);
    expect(created(plan)).toEqual(['nightly-20260501120000']);
    expect(reasons(plan)).toEqual(['ConcurrencyReplace', 'BackupCreated']);
    // Both are listed until the canceled one has stopped; it is not canceled twice.
    expect(w.status.active).toEqual(['nightly-20260501110000', 'nightly-20260501120000']);
    w.at('2026-05-01T12:00:05Z');
    expect(w.tick().cancel).toEqual([]);
  });

  it('a Backup created before a crash (status not written) is recreated idempotently, not seen as a rival', () => {
    const w = new World(hourly, '2026-05-01T10:30:00Z');
    w.tick();
    w.at('2026-05-01T11:00:00Z');
    const before = w.status;
    w.tick();
    w.status = before;
    const again = w.tick();
    expect(created(again)).toEqual(['nightly-20260501110000']);
    expect(reasons(again)).toEqual(['BackupCreated']);
    expect(w.backups).toHaveLength(1);
  });
});

describe('planner: paused and invalid', () => {
  it('paused creates nothing and shows no next run; unpausing does not catch up runs missed while paused', () => {
    const w = new World(hourly, '2026-05-01T10:30:00Z');
    w.tick();
    w.spec = { ...hourly, paused: true };
    w.generation = 2;
    w.at('2026-05-01T11:00:00Z');
    expect(created(w.tick())).toEqual([]);
    expect(w.status.phase).toBe('Paused');
    expect(w.status.nextScheduleTime).toBeUndefined();
    expect(w.status.conditions?.[0]).toMatchObject({ type: 'Scheduled', status: 'False', reason: 'Paused' });
    w.at('2026-05-01T14:10:00Z');
    w.spec = hourly;
    w.generation = 3;
    const resumed = w.tick();
    expect(resumed).toMatchObject({ phase: 'Active', create: [], notes: [] });
    expect(w.status.nextScheduleTime).toBe('2026-05-01T15:00:00Z');
    w.at('2026-05-01T15:00:00Z');
    expect(created(w.tick())).toEqual(['nightly-20260501150000']);
  });

  it.each([
    [{ schedule: '0 25 * * *' }, 'InvalidSchedule', /cron expression "0 25 \* \* \*": hour field: "25": 25 is out of range 0-23; no Backups are created until spec is fixed/],
    [{ schedule: '@daily', timeZone: 'Europe/Atlantis' }, 'InvalidTimeZone', /time zone "Europe\/Atlantis" is not a known IANA name/],
  ])('%j → Invalid with condition %s', (spec, reason, message) => {
    const w = new World({ ...hourly, ...spec }, '2026-05-01T10:30:00Z');
    const plan = w.tick();
    expect(plan).toMatchObject({ phase: 'Invalid', create: [] });
    expect(w.status.nextScheduleTime).toBeUndefined();
    expect(w.status.conditions?.[0]).toMatchObject({ type: 'Scheduled', status: 'False', reason });
    expect(w.status.conditions?.[0]?.message).toMatch(message);
  });

  it('a name too long for a label value is Invalid', () => {
    const w = new World(hourly, '2026-05-01T10:30:00Z', 'x'.repeat(64));
    expect(w.tick().condition).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
  });
});

describe('planner: retention is owed once per successful run', () => {
  it('names the newest successful Backup until lastRetention is newer than its completion', () => {
    const w = new World({ ...hourly, retention: { keepLast: 2 } }, '2026-05-01T11:00:00Z');
    w.tick();
    expect(w.tick().retentionAfter).toBeUndefined();
    w.at('2026-05-01T11:10:00Z');
    w.finish('nightly-20260501110000', 'PartiallyFailed');
    expect(w.tick().retentionAfter).toBe('nightly-20260501110000');
    w.status = { ...w.status, lastRetention: { time: '2026-05-01T11:10:01Z', result: 'Failed' } };
    expect(w.tick().retentionAfter).toBeUndefined();
    w.at('2026-05-01T12:00:00Z');
    w.tick();
    w.at('2026-05-01T12:30:00Z');
    w.finish('nightly-20260501120000', 'Failed');
    expect(w.tick().retentionAfter).toBeUndefined();
  });
});

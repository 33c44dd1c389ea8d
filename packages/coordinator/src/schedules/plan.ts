/**
 * The schedule planner: a pure function from (spec, status, now, this schedule's Backups)
 * to what the controller does — Backups to create and to cancel, runs skipped and why, the
 * next run, the phase. No I/O, no clock of its own, so every rule is tested with plain
 * timestamps (docs/schedules.md describes the rules).
 *
 * Runs are considered once. `status.nextScheduleTime` is the cursor: runs before it were
 * handled by an earlier reconcile (started or skipped); the first reconcile starts at
 * `status.lastScheduleTime` or the creation time. After a pause, an invalid spec or a spec
 * change the cursor restarts at `now`, so runs missed meanwhile are not caught up.
 */
import { BACKUP_SCHEDULE_DEFAULTS, isTerminalPhase, type V1alpha1BackupScheduleSpec, type V1alpha1BackupScheduleStatus } from '@ferry/api';
import { setCondition, type ConditionInput } from '../conditions.js';
import { CronError, CronSchedule } from './cron.js';
import { describeWindow, StartWindowError, startWindowOf, type StartWindow } from './window.js';

/** A run this late (or less) counts as on time, not as missed: the queue or a leader change may delay a reconcile. */
export const ON_TIME_MS = 5 * 60_000;
/** Missed runs are counted up to this many for messages; older ones are not enumerated. */
export const MISSED_COUNT_LIMIT = 100;
/** Label values are at most 63 characters, and every Backup carries the schedule's name in one. */
const MAX_SCHEDULE_NAME = 63;

export interface ScheduleBackupView {
  readonly name: string;
  readonly phase?: string;
  /** ms since the epoch */
  readonly creationTimestamp?: number;
  readonly completionTimestamp?: number;
  readonly deleting?: boolean;
  readonly cancel?: boolean;
}

export interface PlanInput {
  readonly name: string;
  /** The schedule's namespace: with its name, the key of its start-window offset. */
  readonly namespace?: string;
  readonly spec: V1alpha1BackupScheduleSpec;
  readonly status: V1alpha1BackupScheduleStatus;
  readonly generation?: number;
  /** The schedule's creationTimestamp, ms. */
  readonly createdAt: number;
  readonly now: number;
  /** Every Backup labelled with this schedule. */
  readonly backups: readonly ScheduleBackupView[];
}

export interface PlannedRun {
  readonly name: string;
  readonly scheduledTime: number;
}

export interface PlanNote {
  readonly type: 'Normal' | 'Warning';
  readonly reason: 'BackupCreated' | 'MissedRuns' | 'ConcurrencyForbid' | 'ConcurrencyReplace';
  readonly message: string;
}

export interface SchedulePlan {
  readonly phase: 'Active' | 'Paused' | 'Invalid';
  readonly condition: ConditionInput;
  /** Oldest first. */
  readonly create: readonly PlannedRun[];
  /** Running Backups to cancel (concurrencyPolicy Replace). */
  readonly cancel: readonly string[];
  readonly notes: readonly PlanNote[];
  readonly nextScheduleTime?: number;
  readonly lastScheduleTime?: number;
  readonly lastSuccessfulTime?: number;
  readonly lastBackup?: string;
  readonly active: readonly string[];
  /** The successful Backup whose completion retention has not yet followed, when spec.retention is set. */
  readonly retentionAfter?: string;
}

/** `<schedule>-<yyyymmddhhmmss>` of the scheduled time in UTC. */
export function backupNameFor(schedule: string, scheduledTime: number): string {
  return `${schedule}-${new Date(scheduledTime).toISOString().replace(/\.\d{3}Z$/, '').replace(/\D/g, '')}`;
}

export function planSchedule(input: PlanInput): SchedulePlan {
  const base = basePlan(input);
  if (input.name.length > MAX_SCHEDULE_NAME) {
    return { ...base, phase: 'Invalid', condition: { type: 'Scheduled', status: 'False', reason: 'InvalidSpec', message: `the schedule's name is ${input.name.length} characters long; at most ${MAX_SCHEDULE_NAME} fit in its Backups' label ferry.dev/schedule: recreate it with a shorter name` } };
  }
  let cron: ShiftedCron;
  try {
    const window = startWindowOf({ namespace: input.namespace ?? '', name: input.name, schedule: input.spec.schedule, startWindow: input.spec.startWindow });
    cron = new ShiftedCron(CronSchedule.parse(window.expression, input.spec.timeZone ?? BACKUP_SCHEDULE_DEFAULTS.timeZone), window);
  } catch (err) {
    const reason = err instanceof CronError ? 'InvalidSchedule' : err instanceof StartWindowError ? 'InvalidStartWindow' : 'InvalidTimeZone';
    return { ...base, phase: 'Invalid', condition: { type: 'Scheduled', status: 'False', reason, message: `${(err as Error).message}; no Backups are created until spec is fixed` } };
  }
  if (input.spec.paused) {
    return { ...base, phase: 'Paused', condition: { type: 'Scheduled', status: 'False', reason: 'Paused', message: 'spec.paused is true: no Backups are created, and runs missed while paused are not caught up' } };
  }
  return { ...base, ...planRuns(input, cron) };
}

/** What every phase reports: running Backups, last success, and retention owed. */
function basePlan(input: PlanInput): SchedulePlan {
  const s = input.status;
  const active = input.backups.filter((b) => !b.deleting && !isTerminalPhase(b.phase)).map((b) => b.name);
  const succeeded = input.backups.filter((b) => b.phase === 'Completed' || b.phase === 'PartiallyFailed');
  const completed = succeeded.filter((b) => b.phase === 'Completed').map((b) => b.creationTimestamp ?? 0);
  const lastSuccessfulTime = Math.max(parseTime(s.lastSuccessfulTime) ?? 0, ...completed);
  const newest = succeeded.filter((b) => b.completionTimestamp !== undefined).sort((a, b) => b.completionTimestamp! - a.completionTimestamp!)[0];
  const retentionOwed = input.spec.retention && newest && newest.completionTimestamp! > (parseTime(s.lastRetention?.time) ?? -Infinity);
  return {
    phase: 'Active',
    condition: { type: 'Scheduled', status: 'True', reason: 'ScheduleValid', message: '' },
    create: [],
    cancel: [],
    notes: [],
    active,
    ...(lastSuccessfulTime > 0 ? { lastSuccessfulTime } : {}),
    ...optional('lastScheduleTime', parseTime(s.lastScheduleTime)),
    ...optional('lastBackup', s.lastBackup),
    ...(retentionOwed ? { retentionAfter: newest.name } : {}),
  };
}

/** The cron times plus the schedule's start-window offset (window.ts). */
class ShiftedCron {
  constructor(
    private readonly cron: CronSchedule,
    readonly window: StartWindow,
  ) {}

  get zone(): CronSchedule['zone'] {
    return this.cron.zone;
  }

  next(after: number): number | undefined {
    const run = this.cron.next(after - this.window.offsetMs);
    return run === undefined ? undefined : run + this.window.offsetMs;
  }

  runsBetween(from: number, to: number, limit: number): { runs: number[]; more: boolean } {
    const r = this.cron.runsBetween(from - this.window.offsetMs, to - this.window.offsetMs, limit);
    return { runs: r.runs.map((t) => t + this.window.offsetMs), more: r.more };
  }
}

function planRuns(input: PlanInput, cron: ShiftedCron): Partial<SchedulePlan> {
  const { now, spec, name } = input;
  const from = cursor(input);
  const due = cron.runsBetween(from, now, MISSED_COUNT_LIMIT);
  const maxCatchUp = spec.maxCatchUp ?? BACKUP_SCHEDULE_DEFAULTS.maxCatchUp;
  const onTime = due.runs[0] !== undefined && now - due.runs[0] <= ON_TIME_MS;
  const selected = due.runs.slice(0, maxCatchUp === 0 ? (onTime ? 1 : 0) : maxCatchUp);
  const notes: PlanNote[] = [];
  const dropped = due.runs.slice(selected.length);
  if (dropped.length > 0) notes.push(missedNote(dropped, due.more, maxCatchUp));
  const next = cron.next(now);
  const zone = cron.zone.name;
  const condition: ConditionInput = { type: 'Scheduled', status: 'True', reason: 'ScheduleValid', message: next === undefined ? `"${spec.schedule}" in ${zone} has no run in the next 40 years` : `next run at ${isoOf(next)} ("${spec.schedule}" in ${zone}${describeWindow(cron.window)})` };
  const base = { condition, ...optional('nextScheduleTime', next) };
  if (selected.length === 0) return { ...base, notes };

  const runs = selected.map((t) => ({ name: backupNameFor(name, t), scheduledTime: t })).reverse();
  const ours = new Set(runs.map((r) => r.name));
  const others = input.backups.filter((b) => !b.deleting && !isTerminalPhase(b.phase) && !ours.has(b.name));
  const policy = spec.concurrencyPolicy ?? BACKUP_SCHEDULE_DEFAULTS.concurrencyPolicy;
  const when = runs.map((r) => isoOf(r.scheduledTime)).join(', ');
  const running = others.map((b) => b.name).join(', ');
  if (others.length > 0 && policy === 'Forbid') {
    notes.push({ type: 'Warning', reason: 'ConcurrencyForbid', message: `run(s) at ${when} skipped: Backup(s) ${running} still running and concurrencyPolicy is Forbid` });
    return { ...base, notes };
  }
  if (others.length > 0) notes.push({ type: 'Normal', reason: 'ConcurrencyReplace', message: `canceling Backup(s) ${running} for the run(s) at ${when} (concurrencyPolicy Replace)` });
  for (const r of runs) notes.push({ type: 'Normal', reason: 'BackupCreated', message: `created Backup ${r.name} for the run at ${isoOf(r.scheduledTime)}` });
  const newest = runs[runs.length - 1]!;
  return {
    ...base,
    notes,
    create: runs,
    cancel: others.filter((b) => !b.cancel).map((b) => b.name),
    active: [...others.map((b) => b.name), ...runs.map((r) => r.name)],
    lastScheduleTime: newest.scheduledTime,
    lastBackup: newest.name,
  };
}

/** The status a plan leads to (lastRetention is the controller's to set). */
export function scheduleStatus(plan: SchedulePlan, previous: V1alpha1BackupScheduleStatus, now: number, generation: number | undefined): V1alpha1BackupScheduleStatus {
  const { lastRetention } = previous;
  return {
    phase: plan.phase,
    conditions: setCondition(previous.conditions, plan.condition, isoOf(now), generation),
    ...optional('observedGeneration', generation),
    ...optional('lastScheduleTime', plan.lastScheduleTime === undefined ? undefined : isoOf(plan.lastScheduleTime)),
    ...optional('lastSuccessfulTime', plan.lastSuccessfulTime === undefined ? undefined : isoOf(plan.lastSuccessfulTime)),
    ...optional('nextScheduleTime', plan.nextScheduleTime === undefined ? undefined : isoOf(plan.nextScheduleTime)),
    ...optional('lastBackup', plan.lastBackup),
    ...(plan.active.length > 0 ? { active: [...plan.active].sort() } : {}),
    ...optional('lastRetention', lastRetention),
  };
}

/** The earliest run not yet considered (see the file comment). */
function cursor(input: PlanInput): number {
  const s = input.status;
  const resumed = s.phase === 'Paused' || s.phase === 'Invalid' || (s.observedGeneration !== undefined && s.observedGeneration !== input.generation);
  if (resumed) return input.now;
  const next = parseTime(s.nextScheduleTime);
  if (next !== undefined) return next;
  const last = parseTime(s.lastScheduleTime);
  return last !== undefined ? last + 1 : input.createdAt;
}

function missedNote(dropped: readonly number[], more: boolean, maxCatchUp: number): PlanNote {
  const newest = isoOf(dropped[0]!);
  const oldest = isoOf(dropped[dropped.length - 1]!);
  const which = more ? `more than ${dropped.length} missed runs up to ${newest}` : dropped.length === 1 ? `the missed run at ${newest}` : `${dropped.length} missed runs from ${oldest} to ${newest}`;
  const why = maxCatchUp === 0 ? `maxCatchUp is 0 and they are more than ${ON_TIME_MS / 60_000} minutes late` : `maxCatchUp is ${maxCatchUp}, so only the most recent ${maxCatchUp} start`;
  return { type: 'Warning', reason: 'MissedRuns', message: `${which} not started: ${why}` };
}

export function isoOf(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function parseTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

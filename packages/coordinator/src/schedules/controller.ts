/**
 * BackupSchedule: runs the planner (plan.ts) on the schedule and its Backups, then does
 * what it decided — cancel (Replace), create Backups from spec.template owned by the
 * schedule, and after a successful run apply spec.retention — and returns the status with
 * a requeue at the next run. Creating is idempotent by name (`<schedule>-<yyyymmddhhmmss>`),
 * so a crash between creating and writing status creates nothing twice.
 */
import { BACKUP_SCHEDULE_DEFAULTS, type V1alpha1BackupScheduleSpec, type V1alpha1BackupScheduleStatus } from '@ferry/api';
import type { EventOptions, FerryObject } from '../cluster/cluster-state.js';
import { LABELS, type ControllerContext } from '../context.js';
import { involved } from '../controllers/commit.js';
import { messageOf } from '../errors.js';
import type { BackupObject, PvbObject } from '../objects.js';
import type { Decision } from '../state-machine.js';
import { isoOf, planSchedule, scheduleStatus, type PlannedRun, type ScheduleBackupView } from './plan.js';
import { applyScheduleRetention, scheduleTag } from './retention.js';
import { recordForgotten } from '../forgotten.js';

export type ScheduleObject = FerryObject<V1alpha1BackupScheduleSpec, V1alpha1BackupScheduleStatus>;
export type ScheduleStatus = V1alpha1BackupScheduleStatus;

/** Timers are re-armed at least this often, so a far-away run (or a clock jump) is never missed by much. */
const MAX_REQUEUE_MS = 60 * 60_000;
const RETENTION_TIMEOUT_MS = 15 * 60_000;

export async function reconcileSchedule(c: ControllerContext, schedule: ScheduleObject): Promise<Decision<ScheduleStatus>> {
  if (schedule.metadata.deletionTimestamp) return {};
  const ns = schedule.metadata.namespace ?? '';
  const name = schedule.metadata.name ?? '';
  const now = c.clock.now();
  const backups = await c.cluster.list<BackupObject>('Backup', ns, `${LABELS.schedule}=${name}`);
  const status = schedule.status ?? {};
  const generation = schedule.metadata.generation;
  const plan = planSchedule({ name, namespace: ns, spec: schedule.spec, status, generation, createdAt: Date.parse(String(schedule.metadata.creationTimestamp ?? isoOf(now))), now, backups: backups.map(viewOf) });
  for (const b of plan.cancel) await c.cluster.mergePatch('Backup', ns, b, { spec: { cancel: true } });
  for (const r of plan.create) await c.cluster.createOrGet<BackupObject>('Backup', backupFor(schedule, r));
  const events: EventOptions[] = plan.notes.map((n) => ({ involved: involved('BackupSchedule', schedule), ...n }));
  let next = scheduleStatus(plan, status, now, generation);
  if (plan.retentionAfter) {
    const r = await retain(c, schedule, plan.retentionAfter);
    next = { ...next, lastRetention: r.record };
    events.push(r.event);
  }
  const requeueAfterMs = plan.nextScheduleTime !== undefined ? Math.min(MAX_REQUEUE_MS, Math.max(0, plan.nextScheduleTime - now)) : undefined;
  return { status: next, events, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}

function viewOf(b: BackupObject): ScheduleBackupView {
  const time = (v: unknown) => (v === undefined ? undefined : Date.parse(String(v)));
  const created = time(b.metadata.creationTimestamp);
  const completed = time(b.status?.completionTimestamp);
  return {
    name: b.metadata.name ?? '',
    ...(b.status?.phase ? { phase: b.status.phase } : {}),
    ...(created !== undefined ? { creationTimestamp: created } : {}),
    ...(completed !== undefined ? { completionTimestamp: completed } : {}),
    ...(b.metadata.deletionTimestamp ? { deleting: true } : {}),
    ...(b.spec.cancel ? { cancel: true } : {}),
  };
}

/**
 * The template, tagged with the schedule so retention can find exactly its snapshots.
 * Deliberately not owned by the schedule: deleting a schedule must not delete backups
 * (with purgeOnDelete that would delete data); the label ties them together instead.
 */
function backupFor(schedule: ScheduleObject, run: PlannedRun): BackupObject {
  const ns = schedule.metadata.namespace ?? '';
  const name = schedule.metadata.name ?? '';
  const template = schedule.spec.template;
  return {
    apiVersion: 'ferry.dev/v1alpha1',
    kind: 'Backup',
    metadata: {
      name: run.name,
      namespace: ns,
      labels: { [LABELS.schedule]: name },
    },
    spec: { ...template, tags: [...new Set([...(template.tags ?? []), scheduleTag(ns, name)])] },
  };
}

type RetentionRecord = NonNullable<ScheduleStatus['lastRetention']>;

/**
 * Retention in every repository the successful run wrote to. A failure is recorded in
 * status.lastRetention and a Warning Event, never on the Backup, and is tried again after
 * the next successful run.
 */
async function retain(c: ControllerContext, schedule: ScheduleObject, backup: string): Promise<{ record: RetentionRecord; event: EventOptions }> {
  const ns = schedule.metadata.namespace ?? '';
  const name = schedule.metadata.name ?? '';
  const policy = schedule.spec.retention!;
  const pvbs = await c.cluster.list<PvbObject>('PodVolumeBackup', ns, `${LABELS.backup}=${backup}`);
  const repositories = [...new Set(pvbs.filter((p) => p.status?.snapshotId).map((p) => p.spec.repository))].sort();
  let forgotten = 0;
  let considered = 0;
  let backupsDeleted = 0;
  const failures: string[] = [];
  for (const repository of repositories) {
    try {
      const r = await applyScheduleRetention({ repositories: c.repositories, movers: c.purgeMovers, repository, tag: scheduleTag(ns, name), policy, timeZone: schedule.spec.timeZone ?? BACKUP_SCHEDULE_DEFAULTS.timeZone, now: c.clock.now(), signal: AbortSignal.timeout(RETENTION_TIMEOUT_MS) });
      forgotten += r.forgotten.length;
      considered += r.considered;
      const settled = await recordForgotten(c, { repository, snapshotIds: r.forgotten, by: `retention of BackupSchedule ${ns}/${name}` });
      backupsDeleted += settled.deleted.length;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      failures.push(`BackupRepository ${repository}${typeof code === 'string' ? ` (${code})` : ''}: ${messageOf(err)}`);
    }
  }
  const time = isoOf(c.clock.now());
  const on = involved('BackupSchedule', schedule);
  if (failures.length > 0) {
    const message = `retention after Backup ${backup} failed in ${failures.join('; ')}; the Backup is not affected, and retention runs again after the next successful run`;
    c.log.warn('schedule retention failed', { namespace: ns, schedule: name, backup, error: message });
    return { record: { time, result: 'Failed', snapshotsForgotten: forgotten, message: message.slice(0, 32768) }, event: { involved: on, type: 'Warning', reason: 'RetentionFailed', message } };
  }
  const message = `retention after Backup ${backup}: forgot ${forgotten} of ${considered} snapshot(s) of this schedule in ${repositories.length} repository(ies)${forgotten > 0 ? '; their data is freed at the next prune' : ''}${backupsDeleted > 0 ? `; ${backupsDeleted} Backup(s) with no snapshot left were deleted` : ''}`;
  return { record: { time, result: 'Succeeded', snapshotsForgotten: forgotten }, event: { involved: on, type: 'Normal', reason: 'RetentionApplied', message } };
}

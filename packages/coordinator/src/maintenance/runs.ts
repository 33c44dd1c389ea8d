/**
 * A finished maintenance run becomes status: lastCheck or lastPrune, size and snapshot
 * count, the Checked and Maintenance conditions, a Warning Event when it failed, and the
 * run counter. Results are applied idempotently: only the result of the job recorded in
 * status.maintenanceJob changes anything; a re-delivered or stale one is just acknowledged.
 */
import type { JobResult__Output } from '@ferry/api';
import { isoTime } from '../clock.js';
import { setCondition } from '../conditions.js';
import { objectKey, type ControllerContext } from '../context.js';
import { commit, involved, retryOnConflict } from '../controllers/commit.js';
import type { EventOptions } from '../cluster/cluster-state.js';
import { exportRepositoryMetrics } from './metrics.js';
import { parseMaintenanceJobId, type Operation, type RepositoryObject, type RepositoryStatus } from './schedule.js';

export type MaintenanceJob = NonNullable<RepositoryStatus['maintenanceJob']>;

/** Everything a finished run records (from an agent's result or a failure before it ran). */
export interface RunRecord {
  readonly operation: Operation;
  readonly succeeded: boolean;
  readonly message: string;
  readonly job?: MaintenanceJob;
  /** Check: problems found; undefined when the check could not run at all. */
  readonly errors?: number;
  readonly bytesFreed?: number;
  readonly packsDeleted?: number;
  readonly sizeBytes?: number;
  readonly snapshotCount?: number;
  readonly finishedAt?: string;
}

const MAX_MESSAGE = 4096;

export function statusAfterRun(ctx: ControllerContext, status: RepositoryStatus, run: RunRecord): RepositoryStatus {
  const now = isoTime(ctx.clock);
  const j = run.job;
  const common = {
    ...(j ? { startedAt: j.startedAt, node: j.node } : {}),
    ...(j?.requestedAt ? { requestedAt: j.requestedAt } : {}),
    time: run.finishedAt ?? now,
    result: run.succeeded ? ('Succeeded' as const) : ('Failed' as const),
    message: run.message.slice(0, MAX_MESSAGE),
  };
  const { maintenanceJob: _done, ...rest } = status;
  let next: RepositoryStatus = {
    ...rest,
    ...(run.sizeBytes !== undefined ? { sizeBytes: run.sizeBytes } : {}),
    ...(run.snapshotCount !== undefined ? { snapshotCount: run.snapshotCount } : {}),
    conditions: setCondition(status.conditions, { type: 'Maintenance', status: 'False', reason: 'Idle', message: `no check or prune is running; the last ${run.operation} ${run.succeeded ? 'succeeded' : 'failed'}` }, now),
  };
  if (run.operation === 'prune') {
    return { ...next, lastPrune: { ...common, ...(run.bytesFreed !== undefined ? { bytesFreed: run.bytesFreed, packsDeleted: run.packsDeleted ?? 0 } : {}) } };
  }
  next = { ...next, lastCheck: { ...common, ...(run.errors !== undefined ? { errors: run.errors } : {}), ...(j?.readDataPercent !== undefined ? { readDataPercent: j.readDataPercent } : {}) } };
  const reason = run.succeeded ? 'CheckPassed' : run.errors !== undefined ? 'CheckFailed' : 'CheckError';
  return { ...next, conditions: setCondition(next.conditions, { type: 'Checked', status: run.succeeded ? 'True' : 'False', reason, message: common.message }, now) };
}

/** What an agent's result says about the run. */
export function runFromResult(job: MaintenanceJob, result: JobResult__Output): RunRecord {
  const finishedAt = result.finishedAtUnixMs ? new Date(Number(result.finishedAtUnixMs)).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined;
  const base = { operation: job.operation, job, ...(finishedAt ? { finishedAt } : {}) };
  const m = result.maintenance;
  if (result.outcome !== 'maintenance' || !m) {
    const e = result.error;
    const what = e ? `(${e.code.replace(/^ERROR_CODE_/, '')}) ${e.message}` : 'without an outcome';
    return { ...base, succeeded: false, message: `the ${job.operation} on node ${job.node} could not finish ${what}; it is tried again within an hour, or request one now` };
  }
  const measured = {
    ...(m.repositorySizeBytes !== null && m.repositorySizeBytes !== undefined ? { sizeBytes: Number(m.repositorySizeBytes) } : {}),
    ...(m.snapshotCount !== null && m.snapshotCount !== undefined ? { snapshotCount: Number(m.snapshotCount) } : {}),
  };
  if (job.operation === 'prune') {
    const bytesFreed = Number(m.bytesFreed);
    return { ...base, ...measured, succeeded: true, bytesFreed, packsDeleted: Number(m.packsDeleted), message: `freed ${bytesFreed} bytes (${Number(m.packsDeleted)} packs deleted)` };
  }
  const errors = m.errorsFound;
  if (errors === 0) return { ...base, ...measured, succeeded: true, errors, message: `no problem found (read ${m.readDataPercent}% of the pack data)` };
  const listed = m.messages.length < errors ? ` (first ${m.messages.length} listed)` : '';
  return { ...base, ...measured, succeeded: false, errors, message: `${errors} problem(s) found${listed}: ${m.messages.join('; ')}; see docs/maintenance.md for repairing a damaged repository` };
}

function warning(repo: RepositoryObject, run: RunRecord): EventOptions[] {
  if (run.succeeded) return [];
  const reason = run.operation === 'prune' ? 'PruneFailed' : run.errors !== undefined ? 'CheckFailed' : 'CheckError';
  return [{ involved: involved('BackupRepository', repo), type: 'Warning', reason, message: `BackupRepository ${repo.metadata.name}: ${run.message}`.slice(0, 1024) }];
}

/** Records a finished run on the repository (conflicts retried with a fresh read). */
export async function recordRun(ctx: ControllerContext, repo: RepositoryObject, run: RunRecord): Promise<void> {
  const stored = await commit(ctx, 'BackupRepository', repo, { status: statusAfterRun(ctx, repo.status ?? {}, run), events: warning(repo, run) });
  ctx.metrics.maintenanceRuns.inc({ op: run.operation, result: run.succeeded ? 'succeeded' : 'failed' });
  exportRepositoryMetrics(ctx.metrics, stored as RepositoryObject);
  ctx.log.info(`repository ${run.operation} finished`, { repository: repo.metadata.name, result: run.succeeded ? 'succeeded' : 'failed', message: run.message.slice(0, 512) });
}

/**
 * An agent's result for a maintenance job. An interrupted job (agent shutting down) is
 * not a run: the controller assigns it again. Resolves once stored, so the hub acks it.
 */
export async function applyMaintenanceResult(ctx: ControllerContext, result: JobResult__Output): Promise<void> {
  const parsed = parseMaintenanceJobId(result.jobId);
  if (!parsed) return;
  const repo = (await ctx.cluster.list<RepositoryObject>('BackupRepository', ctx.settings.namespace)).find((r) => r.metadata.uid === parsed.uid);
  if (!repo) return; // deleted meanwhile: nothing to record
  const key = objectKey('BackupRepository', repo.metadata.namespace ?? '', repo.metadata.name ?? '');
  ctx.metrics.resultsStored.inc({ kind: 'BackupRepository' });
  if (result.error?.code === 'ERROR_CODE_INTERRUPTED' && result.error.retriable) return ctx.enqueue(key);
  await retryOnConflict(async () => {
    const fresh = await ctx.cluster.get<RepositoryObject>('BackupRepository', repo.metadata.namespace ?? '', repo.metadata.name ?? '');
    const job = fresh?.status?.maintenanceJob;
    if (!fresh || job?.jobId !== result.jobId) return;
    await recordRun(ctx, fresh, runFromResult(job, result));
  });
  ctx.enqueue(key);
}

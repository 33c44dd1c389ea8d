/**
 * Does the work of one job once it may run: finds the volume, runs the mover, and for
 * restores writes the done-marker (or the failed-marker with the reason) into the volume,
 * or for a block volume into the pod's marker emptyDir when it has one. Maintenance
 * jobs (check, prune) work on the repository alone and measure it afterwards.
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { RESTORE_MARKER_VOLUME } from '@ferry/api';
import type { BackupResult, CheckResult, Mover, MoverProgress, PruneResult, RepositoryStats, RestoreResult } from '@ferry/mover';
import { AgentError, JobAbort } from './errors.js';
import { jobSecrets, jobVolume, redact, sourceIdentity, type JobSpec, type MaintenanceOperationName, type VolumeSpec } from './job-spec.js';
import type { Logger } from '@ferry/log';
import { clearMarkers, writeDoneMarker, writeFailedMarker } from './markers.js';
import type { MoverFactory } from './movers.js';
import { classifyError } from './status-codes.js';
import { EMPTY_DIR_PLUGIN, resolveVolume } from './volumes.js';

export interface MaintenanceResult {
  readonly operation: MaintenanceOperationName;
  readonly readDataPercent: number;
  readonly check?: CheckResult;
  readonly prune?: PruneResult;
  /** Undefined when measuring failed after the operation itself succeeded. */
  readonly stats?: RepositoryStats;
}

export type JobOutcome =
  | { readonly kind: 'backup'; readonly result: BackupResult }
  | { readonly kind: 'restore'; readonly result: RestoreResult }
  | { readonly kind: 'maintenance'; readonly result: MaintenanceResult };

export interface ExecuteContext {
  readonly signal: AbortSignal;
  readonly onProgress: (progress: MoverProgress) => void;
  readonly log: Logger;
}

export interface ExecutorOptions {
  readonly podsDir: string;
  readonly createMover: MoverFactory;
}

export type Executor = (job: JobSpec, context: ExecuteContext) => Promise<JobOutcome>;

export function createExecutor(options: ExecutorOptions): Executor {
  return (job, context) => {
    if (job.kind === 'maintenance') return runMaintenance(job, context, options);
    return job.kind === 'backup' ? runBackup(job, context, options) : runRestore(job, context, options);
  };
}

async function runMaintenance(job: JobSpec, ctx: ExecuteContext, options: ExecutorOptions): Promise<JobOutcome> {
  const spec = job.maintenance;
  if (!spec) throw new AgentError('InvalidJob', `job ${job.id}: maintenance without maintenance details`);
  ctx.log.info(`${spec.operation} of the repository`, spec.operation === 'check' ? { readDataPercent: spec.readDataPercent } : {});
  const { mover, dispose } = await options.createMover(job);
  try {
    const base = { operation: spec.operation, readDataPercent: spec.operation === 'check' ? spec.readDataPercent : 0 };
    const done = spec.operation === 'check'
      ? { ...base, check: await mover.check({ ...readDataOf(spec.readDataPercent), signal: ctx.signal, onProgress: ctx.onProgress }) }
      : { ...base, prune: await mover.prune({ signal: ctx.signal, onProgress: ctx.onProgress }) };
    const stats = await measure(mover, ctx);
    return { kind: 'maintenance', result: { ...done, ...(stats ? { stats } : {}) } };
  } finally {
    await dispose();
  }
}

function readDataOf(percent: number): { readData?: 'all' | { fraction: number } } {
  if (percent <= 0) return {};
  return percent >= 100 ? { readData: 'all' } : { readData: { fraction: percent / 100 } };
}

// Size and count are a by-product: failing to measure must not turn a finished check or
// prune into a failed one, so the result just goes without them.
async function measure(mover: Mover, ctx: ExecuteContext): Promise<RepositoryStats | undefined> {
  try {
    return await mover.stats({ signal: ctx.signal });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    ctx.log.warn('could not measure the repository after maintenance', { error: (err as Error).message });
    return undefined;
  }
}

async function runBackup(job: JobSpec, ctx: ExecuteContext, options: ExecutorOptions): Promise<JobOutcome> {
  const volume = await resolveVolume({ podsDir: options.podsDir, volume: jobVolume(job) });
  ctx.log.info('backing up volume', { path: volume.path, plugin: volume.plugin });
  const { mover, dispose } = await options.createMover(job);
  try {
    if (job.repository.initializeIfMissing) {
      const init = await mover.init({ signal: ctx.signal });
      if (init.created) ctx.log.info('created repository', { repository: init.repositoryId ?? '' });
    }
    const spec = job.backup;
    const result = await mover.backup({
      source: volume.block ? { kind: 'device', path: volume.path } : { kind: 'directory', path: volume.path },
      identity: sourceIdentity(job),
      ...(spec?.parent ? { parent: spec.parent } : {}),
      excludes: spec?.excludes ?? [],
      tags: spec?.tags ?? [],
      signal: ctx.signal,
      onProgress: ctx.onProgress,
    });
    return { kind: 'backup', result };
  } finally {
    await dispose();
  }
}

async function runRestore(job: JobSpec, ctx: ExecuteContext, options: ExecutorOptions): Promise<JobOutcome> {
  const spec = job.restore;
  if (!spec) throw new AgentError('InvalidJob', `job ${job.id}: restore without restore details`);
  const volume = await resolveVolume({ podsDir: options.podsDir, volume: jobVolume(job) });
  ctx.log.info('restoring volume', { path: volume.path, plugin: volume.plugin, snapshot: spec.snapshotId, block: volume.block });
  const markers = volume.block ? await blockMarkerDir(options.podsDir, jobVolume(job)) : volume.path;
  if (markers) await clearMarkers(markers, spec.restoreUid);
  let result: RestoreResult;
  try {
    const { mover, dispose } = await options.createMover(job);
    try {
      const target = volume.block ? { target: volume.path, volumeMode: 'Block' as const } : { target: volume.path, ...(spec.include ? { include: spec.include } : {}) };
      result = await mover.restore({ snapshotId: spec.snapshotId, ...target, signal: ctx.signal, onProgress: ctx.onProgress });
    } finally {
      await dispose();
    }
  } catch (err) {
    if (markers) await markFailed(job, markers, err, ctx);
    throw err;
  }
  if (!markers) return { kind: 'restore', result };
  try {
    await writeDoneMarker(markers, spec.restoreUid, `${spec.snapshotId}\n`);
  } catch (cause) {
    throw new AgentError('MarkerFailed', `restored ${volume.path} but could not write its done-marker in ${markers}: ${(cause as Error).message}; restore-wait keeps the pod waiting until the restore is retried`, { cause });
  }
  return { kind: 'restore', result };
}

/**
 * A device has no directory to hold restore markers. A pod the restore webhook adopted has
 * an emptyDir for them (RESTORE_MARKER_VOLUME) where its restore-wait waits in
 * `<emptyDir>/<volume name>`; a pod without one (a helper pod) waits for the job's result
 * instead, and gets no markers. A symlink there is refused: the agent writes as root.
 */
async function blockMarkerDir(podsDir: string, volume: VolumeSpec): Promise<string | undefined> {
  const emptyDir = join(podsDir, volume.podUid, 'volumes', EMPTY_DIR_PLUGIN, RESTORE_MARKER_VOLUME);
  const dir = join(emptyDir, volume.volumeName);
  const kinds = await Promise.all([emptyDir, dir].map((p) => lstat(p).then((st) => (st.isDirectory() ? 'dir' : 'other'), () => 'missing')));
  if (kinds[0] !== 'dir') return undefined;
  if (kinds[1] === 'other') throw new AgentError('InvalidJob', `the restore marker directory ${dir} of block volume ${volume.volumeName} is not a directory; delete the pod so that the kubelet makes a fresh one`);
  return dir;
}

// An interrupted restore is not a failed one: the job runs again (on this node, after the
// agent restarts), so the pod keeps waiting instead of seeing a failure.
async function markFailed(job: JobSpec, volumeDir: string, err: unknown, ctx: ExecuteContext): Promise<void> {
  const reason = ctx.signal.reason;
  if (reason instanceof JobAbort && reason.kind === 'interrupted') return;
  const failure = classifyError(err, ctx.signal.aborted ? reason : undefined);
  const message = redact(failure.message, jobSecrets(job));
  try {
    await writeFailedMarker(volumeDir, job.restore?.restoreUid ?? job.id, `Ferry restore failed (${failure.code}): ${message}`);
  } catch (cause) {
    ctx.log.error('could not write the failed-marker', { path: volumeDir, error: (cause as Error).message });
  }
}

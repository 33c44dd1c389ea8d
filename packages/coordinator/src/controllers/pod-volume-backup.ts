/**
 * PodVolumeBackup: New → (WaitingForAgent) → InProgress → Completed | PartiallyFailed |
 * Failed | Canceled. The agent on the pod's node does the work; its results arrive through
 * `applyResult` (idempotent by job id) and its progress through `applyProgress`.
 */
import { COMMAND_VOLUME_KIND, isTerminalPhase, type JobProgress__Output, type JobResult__Output } from '@ferry/api';
import { isoTime } from '../clock.js';
import { setCondition } from '../conditions.js';
import { LABELS, type ControllerContext } from '../context.js';
import { resourceErrorOf } from '../errors.js';
import { agentVolumeKind, backupJob, jobIdOf } from '../jobs.js';
import type { PvbObject, PvbStatus } from '../objects.js';
import { dispatch, type Decision, type PhaseHandlers } from '../state-machine.js';
import type { V1alpha1PodVolumeBackupPhase } from '@ferry/api';
import { canceled, changedSinceRead, failed, waitForAgent, waitForLostAgent } from './agent-wait.js';
import { runningCommand, startCommand } from './backup-command.js';
import { preHookGate } from './hooks.js';
import { cleanUpSnapshot, driveSnapshot, snapshotTarget, wantsSnapshot, workNode } from './snapshot-volume.js';

interface Ctx {
  readonly c: ControllerContext;
  readonly pvb: PvbObject;
  readonly status: PvbStatus;
}

const describe = (pvb: PvbObject): string => `the backup of volume ${pvb.spec.volume.name} of pod ${pvb.spec.pod.namespace}/${pvb.spec.pod.name}`;

async function start({ c, pvb, status }: Ctx): Promise<Decision<PvbStatus>> {
  // An imported volume's snapshot exists already (ImportBackup writes its status); its pod is on another cluster.
  if (pvb.metadata.labels?.[LABELS.imported] === 'true') return {};
  if (pvb.spec.cancel) return { status: canceled(c, status, 'spec.cancel was set before the volume started') };
  const pod = status.volumeSnapshot ? undefined : await c.cluster.getPod(pvb.spec.pod.namespace, pvb.spec.pod.name);
  // Once the snapshot is taken the copy no longer needs the workload's pod.
  if (!status.volumeSnapshot && (!pod || pod.metadata?.uid !== pvb.spec.pod.uid)) {
    return { status: failed(c, status, 'PodNotFound', `pod ${pvb.spec.pod.namespace}/${pvb.spec.pod.name} (uid ${pvb.spec.pod.uid}) is gone; nothing to back up`, false, 'PodNotFound') };
  }
  const gate = preHookGate(pvb);
  if (gate.kind === 'fail') return { status: failed(c, status, 'HookFailed', gate.message, false, 'HookFailed') };
  // The pre hook runs in a Backup task; its outcome lands on this object (annotation), which wakes this reconcile.
  if (gate.kind === 'wait') return { status: waitingForHook(c, status), requeueAfterMs: 30_000 };
  if (pvb.spec.volume.kind === COMMAND_VOLUME_KIND) return startCommand(c, pvb, status);
  if (!wantsSnapshot(pvb)) return assign(c, pvb, status);
  const step = await driveSnapshot(c, pvb, status);
  if (step.kind === 'live') return assign(c, pvb, status);
  if (step.kind === 'wait') return { status: step.status, requeueAfterMs: step.requeueAfterMs };
  if (step.kind === 'fail') return { status: step.status };
  return assign(c, pvb, step.status);
}

/** Sends the job to the agent of the node that has the volume (the helper pod's in snapshot mode). */
async function assign(c: ControllerContext, pvb: PvbObject, status: PvbStatus): Promise<Decision<PvbStatus>> {
  const target = snapshotTarget(pvb, status);
  const node = target.spec.node;
  const session = c.hub.session(node);
  if (!session) {
    const w = waitForAgent(c, status, node, describe(pvb));
    return w.kind === 'wait' ? { status: w.status, requeueAfterMs: w.requeueAfterMs } : { status: w.status };
  }
  const attempt = (status.attempt ?? 0) + 1;
  const repository = await c.repositories.jobRepository(pvb.spec.repository, { initialize: true });
  const job = backupJob(target, attempt, repository, await agentVolumeKind(c.cluster, target.spec.volume));
  c.hub.assign(node, job);
  const now = isoTime(c.clock);
  const conditions = setCondition(status.conditions, { type: 'AgentAssigned', status: 'True', reason: 'Assigned', message: `assigned to the agent on node ${node} (attempt ${attempt})` }, now);
  return {
    status: { ...status, phase: 'InProgress', attempt, agent: { node: session.node, instanceId: session.instanceId }, conditions },
    requeueAfterMs: 10_000,
  };
}

function waitingForHook(c: ControllerContext, status: PvbStatus): PvbStatus {
  if (status.conditions?.some((x) => x.type === 'Progressing' && x.reason === 'WaitingForPreHook')) return status;
  return { ...status, conditions: setCondition(status.conditions, { type: 'Progressing', status: 'False', reason: 'WaitingForPreHook', message: "waiting for the pod's pre hook to finish" }, isoTime(c.clock)) };
}

async function running({ c, pvb, status }: Ctx): Promise<Decision<PvbStatus>> {
  if (pvb.spec.volume.kind === COMMAND_VOLUME_KIND) return runningCommand(c, pvb, status);
  const node = workNode(pvb);
  const jobId = jobIdOf(pvb.metadata.uid ?? '', status.attempt ?? 1);
  const session = c.hub.session(node);
  if (!session) {
    const w = waitForLostAgent(c, status, node, describe(pvb));
    if (w.kind === 'fail' && pvb.spec.cancel) return { status: canceled(c, status, 'spec.cancel was set while the agent was away') };
    return w.kind === 'wait' ? { requeueAfterMs: w.requeueAfterMs } : { status: w.status };
  }
  if (pvb.spec.cancel) {
    c.hub.cancel(node, jobId, 'spec.cancel was set on the PodVolumeBackup');
    return { requeueAfterMs: 5_000 };
  }
  if (!session.jobs.has(jobId)) return reassign(c, pvb, status, session.instanceId !== status.agent?.instanceId);
  return { requeueAfterMs: 30_000 };
}

/**
 * The connected agent does not know the job. Same agent process: the Assign was lost
 * (e.g. the coordinator stopped right after writing status), so send it again. A new
 * process that does not even report the job as interrupted lost it: start another attempt.
 */
async function reassign(c: ControllerContext, pvb: PvbObject, status: PvbStatus, restarted: boolean): Promise<Decision<PvbStatus>> {
  const target = snapshotTarget(pvb, status);
  if (!restarted) {
    if (await changedSinceRead(c, 'PodVolumeBackup', pvb)) return {};
    const repository = await c.repositories.jobRepository(pvb.spec.repository, { initialize: true });
    c.hub.assign(target.spec.node, backupJob(target, status.attempt ?? 1, repository, await agentVolumeKind(c.cluster, target.spec.volume)));
    return { requeueAfterMs: 10_000 };
  }
  return { status: retryOrFail(c, status, `the agent on node ${target.spec.node} restarted and no longer knows the job`) };
}

function retryOrFail(c: ControllerContext, status: PvbStatus, why: string): PvbStatus {
  const attempt = status.attempt ?? 1;
  if (attempt >= c.settings.maxAttempts) return failed(c, status, 'AgentLost', `${why}; gave up after ${attempt} attempts`, true, 'AgentLost');
  const conditions = setCondition(status.conditions, { type: 'AgentAssigned', status: 'False', reason: 'AgentLost', message: `${why}; assigning again (attempt ${attempt + 1})` }, isoTime(c.clock));
  return { ...status, phase: 'New', conditions };
}

/** A finished volume holds nothing; in snapshot mode its helper pod, claim and snapshot are deleted once. */
async function done({ c, pvb, status }: Ctx): Promise<Decision<PvbStatus>> {
  const cleaned = await cleanUpSnapshot(c, pvb, status);
  return cleaned ? { status: cleaned } : {};
}

const HANDLERS: PhaseHandlers<V1alpha1PodVolumeBackupPhase, Ctx, PvbStatus> = {
  New: start,
  WaitingForAgent: start,
  InProgress: running,
  Completed: done,
  PartiallyFailed: done,
  Failed: done,
  Canceled: done,
};

export function reconcilePodVolumeBackup(c: ControllerContext, pvb: PvbObject): Promise<Decision<PvbStatus>> {
  const status = pvb.status ?? {};
  return dispatch(HANDLERS, status.phase ?? 'New', { c, pvb, status });
}

/** The status a job result leads to; undefined when the result is stale or already applied. */
export function statusFromBackupResult(c: ControllerContext, pvb: PvbObject, result: JobResult__Output): PvbStatus | undefined {
  const status = pvb.status ?? {};
  if (isTerminalPhase(status.phase) || result.jobId !== jobIdOf(pvb.metadata.uid ?? '', status.attempt ?? 1)) return undefined;
  const now = isoTime(c.clock);
  const timing = {
    ...(result.startedAtUnixMs ? { startTimestamp: isoFrom(result.startedAtUnixMs) } : {}),
    completionTimestamp: result.finishedAtUnixMs ? isoFrom(result.finishedAtUnixMs) : now,
  };
  if (result.outcome === 'error' && result.error) {
    const mapped = resourceErrorOf(result.error.code);
    if (mapped.code === 'Interrupted' && result.error.retriable) return retryOrFail(c, status, `the agent on node ${workNode(pvb)} was interrupted (${result.error.message})`);
    if (mapped.code === 'Canceled') return { ...canceled(c, status, result.error.message), ...timing };
    return { ...failed(c, status, mapped.code, result.error.message, result.error.retriable, mapped.reason), ...timing };
  }
  const b = result.backup;
  if (!b) return { ...failed(c, status, 'Internal', 'the agent reported a result without an outcome', true, 'MoverFailed'), ...timing };
  const partial = result.fileErrorsTotal > 0;
  const phase = partial ? 'PartiallyFailed' : 'Completed';
  const message = partial ? `${result.fileErrorsTotal} files could not be read; first: ${result.fileErrors[0]?.path ?? '?'}: ${result.fileErrors[0]?.message ?? ''}` : `snapshot ${b.snapshotId.slice(0, 12)} written`;
  const conditions = setCondition(status.conditions, { type: 'Progressing', status: 'False', reason: phase, message }, now);
  const stats = b.stats;
  const bytes = stats?.bytesProcessed ?? 0;
  return {
    ...status,
    ...timing,
    phase,
    conditions,
    snapshotId: b.snapshotId,
    ...(b.parentSnapshotId ? { parentSnapshotId: b.parentSnapshotId } : {}),
    progress: { ...(status.progress ?? { filesDone: 0 }), bytesDone: bytes, totalBytes: bytes, filesDone: (stats?.filesNew ?? 0) + (stats?.filesChanged ?? 0) + (stats?.filesUnmodified ?? 0), updatedAt: now },
    stats: { filesNew: stats?.filesNew ?? 0, filesChanged: stats?.filesChanged ?? 0, filesUnmodified: stats?.filesUnmodified ?? 0, bytesAdded: stats?.bytesAdded ?? 0, bytesDeduplicated: stats?.bytesDeduplicated ?? 0 },
    ...(partial ? { fileErrorsTotal: result.fileErrorsTotal } : {}),
  };
}

/** Progress and the start time from a JobProgress (the caller throttles). */
export function statusFromProgress<S extends PvbStatus | import('../objects.js').PvrStatus>(c: ControllerContext, status: S, progress: JobProgress__Output): S {
  const now = isoTime(c.clock);
  let next: S = {
    ...status,
    progress: {
      bytesDone: progress.bytesDone,
      filesDone: progress.filesDone,
      ...(progress.bytesTotal !== null && progress.bytesTotal !== undefined ? { totalBytes: progress.bytesTotal } : {}),
      ...(progress.filesTotal !== null && progress.filesTotal !== undefined ? { totalFiles: progress.filesTotal } : {}),
      updatedAt: now,
    },
  };
  if (progress.phase === 'JOB_PHASE_RUNNING') {
    next = { ...next, conditions: setCondition(status.conditions, { type: 'Progressing', status: 'True', reason: 'Started', message: 'the agent is moving data' }, now) };
    if (!status.startTimestamp) next = { ...next, startTimestamp: now };
  }
  return next;
}

function isoFrom(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * PodVolumeRestore: New → (WaitingForAgent) → WaitingForPod → InProgress → Completed |
 * PartiallyFailed | Failed | Canceled. The job is assigned as soon as the pod is bound
 * (the agent holds it); RestoreMayStart goes out once the pod runs restore-wait, and again
 * on every new agent stream until the result arrives.
 */
import { isTerminalPhase, type JobResult__Output, type V1alpha1PodVolumeRestorePhase } from '@ferry/api';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { HELPER_CONTAINER, HELPER_POD_LABEL } from '../helpers/helper-pod.js';
import { isoTime } from '../clock.js';
import { setCondition } from '../conditions.js';
import { RESTORE_WAIT_CONTAINER, type ControllerContext } from '../context.js';
import { resourceErrorOf } from '../errors.js';
import { agentVolumeKind, jobIdOf, restoreJob } from '../jobs.js';
import type { PvrObject, PvrStatus, RestoreObject } from '../objects.js';
import { dispatch, type Decision, type PhaseHandlers } from '../state-machine.js';
import { canceled, changedSinceRead, failed, waitForAgent, waitForLostAgent } from './agent-wait.js';

interface Ctx {
  readonly c: ControllerContext;
  readonly pvr: PvrObject;
  readonly status: PvrStatus;
}

const describe = (pvr: PvrObject): string => `the restore of volume ${pvr.spec.target.name} of pod ${pvr.spec.pod.namespace}/${pvr.spec.pod.name}`;

async function currentPod(c: ControllerContext, pvr: PvrObject): Promise<V1Pod | undefined> {
  const pod = await c.cluster.getPod(pvr.spec.pod.namespace, pvr.spec.pod.name);
  return pod && pod.metadata?.uid === pvr.spec.pod.uid && !pod.metadata.deletionTimestamp ? pod : undefined;
}

function podGone(c: ControllerContext, pvr: PvrObject, status: PvrStatus): Decision<PvrStatus> {
  return { status: failed(c, status, 'PodNotFound', `pod ${pvr.spec.pod.namespace}/${pvr.spec.pod.name} (uid ${pvr.spec.pod.uid}) is gone or terminating; its volume was not restored`, false, 'PodNotFound') };
}

export function runsRestoreWait(pod: V1Pod): boolean {
  const running = (s: V1ContainerStatus) => s.state?.running !== undefined && s.state.running !== null;
  // A restore helper pod runs restore-wait as its one container (docs/helper-pods.md).
  if (pod.metadata?.labels?.[HELPER_POD_LABEL] === 'restore') return (pod.status?.containerStatuses ?? []).some((s) => s.name === HELPER_CONTAINER && running(s));
  return (pod.status?.initContainerStatuses ?? []).some((s) => s.name === RESTORE_WAIT_CONTAINER && running(s));
}

async function sendAssign(c: ControllerContext, pvr: PvrObject, attempt: number): Promise<void> {
  const restore = await c.cluster.get<RestoreObject>('Restore', pvr.metadata.namespace ?? '', pvr.spec.restore);
  const repository = await c.repositories.jobRepository(pvr.spec.repository, { initialize: false });
  c.hub.assign(pvr.spec.node, restoreJob(pvr, attempt, repository, await agentVolumeKind(c.cluster, pvr.spec.target), restore?.metadata.uid ?? pvr.spec.restore));
}

async function start({ c, pvr, status }: Ctx): Promise<Decision<PvrStatus>> {
  if (pvr.spec.cancel) return { status: canceled(c, status, 'spec.cancel was set before the volume started') };
  if (!(await currentPod(c, pvr))) return podGone(c, pvr, status);
  const session = c.hub.session(pvr.spec.node);
  if (!session) {
    const w = waitForAgent(c, status, pvr.spec.node, describe(pvr));
    return w.kind === 'wait' ? { status: w.status, requeueAfterMs: w.requeueAfterMs } : { status: w.status };
  }
  const attempt = (status.attempt ?? 0) + 1;
  await sendAssign(c, pvr, attempt);
  const now = isoTime(c.clock);
  let conditions = setCondition(status.conditions, { type: 'AgentAssigned', status: 'True', reason: 'Assigned', message: `assigned to the agent on node ${pvr.spec.node} (attempt ${attempt})` }, now);
  conditions = setCondition(conditions, { type: 'Progressing', status: 'True', reason: 'WaitingForPod', message: 'waiting for the pod to run restore-wait' }, now);
  return { status: { ...status, phase: 'WaitingForPod', attempt, agent: { node: session.node, instanceId: session.instanceId }, conditions }, requeueAfterMs: 1_000 };
}

/** Shared by WaitingForPod and InProgress: cancel, agent gone or restarted, job lost. */
async function checkJob(c: ControllerContext, pvr: PvrObject, status: PvrStatus): Promise<Decision<PvrStatus> | undefined> {
  const node = pvr.spec.node;
  const jobId = jobIdOf(pvr.metadata.uid ?? '', status.attempt ?? 1);
  const session = c.hub.session(node);
  if (!session) {
    const w = waitForLostAgent(c, status, node, describe(pvr));
    return w.kind === 'wait' ? { requeueAfterMs: w.requeueAfterMs } : { status: w.status };
  }
  if (pvr.spec.cancel) {
    c.hub.cancel(node, jobId, 'spec.cancel was set on the PodVolumeRestore');
    return { requeueAfterMs: 5_000 };
  }
  if (session.jobs.has(jobId)) return undefined;
  if (session.instanceId === status.agent?.instanceId) {
    if (await changedSinceRead(c, 'PodVolumeRestore', pvr)) return {};
    await sendAssign(c, pvr, status.attempt ?? 1);
    return undefined;
  }
  return { status: retryOrFail(c, status, `the agent on node ${node} restarted and no longer knows the job`) };
}

async function waitingForPod({ c, pvr, status }: Ctx): Promise<Decision<PvrStatus>> {
  const pod = await currentPod(c, pvr);
  if (!pod) return podGone(c, pvr, status);
  const checked = await checkJob(c, pvr, status);
  if (checked) return checked;
  if (!runsRestoreWait(pod)) return { requeueAfterMs: 5_000 };
  c.hub.restoreMayStart(pvr.spec.node, jobIdOf(pvr.metadata.uid ?? '', status.attempt ?? 1));
  const now = isoTime(c.clock);
  const conditions = setCondition(status.conditions, { type: 'Progressing', status: 'True', reason: 'Started', message: 'the pod runs restore-wait; the agent restores the volume' }, now);
  return { status: { ...status, phase: 'InProgress', startTimestamp: status.startTimestamp ?? now, conditions }, requeueAfterMs: 10_000 };
}

async function running({ c, pvr, status }: Ctx): Promise<Decision<PvrStatus>> {
  const checked = await checkJob(c, pvr, status);
  if (checked) return checked;
  c.hub.restoreMayStart(pvr.spec.node, jobIdOf(pvr.metadata.uid ?? '', status.attempt ?? 1));
  return { requeueAfterMs: 30_000 };
}

function retryOrFail(c: ControllerContext, status: PvrStatus, why: string): PvrStatus {
  const attempt = status.attempt ?? 1;
  if (attempt >= c.settings.maxAttempts) return failed(c, status, 'AgentLost', `${why}; gave up after ${attempt} attempts`, true, 'AgentLost');
  const conditions = setCondition(status.conditions, { type: 'AgentAssigned', status: 'False', reason: 'AgentLost', message: `${why}; assigning again (attempt ${attempt + 1})` }, isoTime(c.clock));
  return { ...status, phase: 'New', conditions };
}

const done = async (): Promise<Decision<PvrStatus>> => ({});

const HANDLERS: PhaseHandlers<V1alpha1PodVolumeRestorePhase, Ctx, PvrStatus> = {
  New: start,
  WaitingForAgent: start,
  WaitingForPod: waitingForPod,
  InProgress: running,
  Completed: done,
  PartiallyFailed: done,
  Failed: done,
  Canceled: done,
};

export function reconcilePodVolumeRestore(c: ControllerContext, pvr: PvrObject): Promise<Decision<PvrStatus>> {
  const status = pvr.status ?? {};
  return dispatch(HANDLERS, status.phase ?? 'New', { c, pvr, status });
}

/** The agent knows the device path; the user knows the claim: name it. */
function failureMessage(pvr: PvrObject, code: string, message: string): string {
  const claim = pvr.spec.target.pvc?.name;
  if (code !== 'TargetTooSmall' || !claim) return message;
  return `claim ${pvr.spec.pod.namespace}/${claim} is smaller than the backed-up device: ${message}`;
}

export function statusFromRestoreResult(c: ControllerContext, pvr: PvrObject, result: JobResult__Output): PvrStatus | undefined {
  const status = pvr.status ?? {};
  if (isTerminalPhase(status.phase) || result.jobId !== jobIdOf(pvr.metadata.uid ?? '', status.attempt ?? 1)) return undefined;
  const now = isoTime(c.clock);
  const completionTimestamp = result.finishedAtUnixMs ? new Date(result.finishedAtUnixMs).toISOString().replace(/\.\d{3}Z$/, 'Z') : now;
  if (result.outcome === 'error' && result.error) {
    const mapped = resourceErrorOf(result.error.code);
    if (mapped.code === 'Interrupted' && result.error.retriable) return retryOrFail(c, status, `the agent on node ${pvr.spec.node} was interrupted (${result.error.message})`);
    if (mapped.code === 'Canceled') return { ...canceled(c, status, result.error.message), completionTimestamp };
    return { ...failed(c, status, mapped.code, failureMessage(pvr, mapped.code, result.error.message), result.error.retriable, mapped.reason), completionTimestamp };
  }
  const stats = result.restore?.stats;
  const partial = result.fileErrorsTotal > 0;
  const phase = partial ? 'PartiallyFailed' : 'Completed';
  const message = partial ? `${result.fileErrorsTotal} files could not be restored; first: ${result.fileErrors[0]?.path ?? '?'}: ${result.fileErrors[0]?.message ?? ''}` : 'restored; the done-marker is written';
  const conditions = setCondition(status.conditions, { type: 'Progressing', status: 'False', reason: phase, message }, now);
  const bytes = stats?.bytesRestored ?? 0;
  return {
    ...status,
    phase,
    conditions,
    completionTimestamp,
    markerWritten: true,
    progress: { bytesDone: bytes, totalBytes: bytes, filesDone: stats?.filesRestored ?? 0, totalFiles: stats?.filesRestored ?? 0, updatedAt: now },
    stats: { filesRestored: stats?.filesRestored ?? 0, bytesRestored: bytes },
    ...(partial ? { fileErrorsTotal: result.fileErrorsTotal } : {}),
  };
}

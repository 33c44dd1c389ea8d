/**
 * Shared by PodVolumeBackups and PodVolumeRestores: what to do when the node's agent is
 * not connected (wait, then AgentUnavailable) or went away mid-job (wait, then AgentLost),
 * measured on the injected clock from timestamps kept in status, so a coordinator restart
 * neither resets nor skips the wait.
 */
import type { V1alpha1Condition, V1alpha1ErrorInfo } from '@ferry/api';
import { isoTime } from '../clock.js';
import { findCondition, setCondition } from '../conditions.js';
import type { ControllerContext } from '../context.js';

export interface VolumeStatusBase {
  phase?: string;
  conditions?: V1alpha1Condition[];
  completionTimestamp?: string;
  error?: V1alpha1ErrorInfo;
  agent?: { node: string; instanceId: string };
  attempt?: number;
}

export type WaitOutcome<S> = { readonly kind: 'wait'; readonly status: S; readonly requeueAfterMs: number } | { readonly kind: 'fail'; readonly status: S };

/** No agent for `node`: keep waiting (WaitingForAgent) or fail with AgentUnavailable. */
export function waitForAgent<S extends VolumeStatusBase>(ctx: ControllerContext, status: S, node: string, what: string): WaitOutcome<S> {
  const now = isoTime(ctx.clock);
  const since = findCondition(status.conditions, 'AgentAssigned');
  const waitingSince = since?.reason === 'WaitingForAgent' ? Date.parse(since.lastTransitionTime) : ctx.clock.now();
  const waited = ctx.clock.now() - waitingSince;
  const limit = ctx.settings.agentWaitMs;
  if (waited >= limit) {
    const message = `no Ferry agent connected for node ${node} within ${Math.round(limit / 1000)} s, so ${what} could not start; check the ferry-agent DaemonSet pod on that node (its logs and its TLS certificate)`;
    return { kind: 'fail', status: failed(ctx, status, 'AgentUnavailable', message, true) };
  }
  const conditions = setCondition(status.conditions, { type: 'AgentAssigned', status: 'False', reason: 'WaitingForAgent', message: `waiting for the Ferry agent on node ${node} to connect` }, since?.reason === 'WaitingForAgent' ? since.lastTransitionTime : now);
  return { kind: 'wait', status: { ...status, phase: 'WaitingForAgent', conditions }, requeueAfterMs: Math.min(limit - waited, 5_000) };
}

/** The job's agent is disconnected: wait up to agentLostMs from when it was last seen, then AgentLost. */
export function waitForLostAgent<S extends VolumeStatusBase>(ctx: ControllerContext, status: S, node: string, what: string): WaitOutcome<S> {
  const lastSeen = ctx.hub.lastSeenAt(node) ?? ctx.startedAt;
  const gone = ctx.clock.now() - lastSeen;
  const limit = ctx.settings.agentLostMs;
  if (gone >= limit) {
    const message = `the Ferry agent on node ${node} disconnected while it ran ${what} and did not come back within ${Math.round(limit / 1000)} s; the volume was not finished, run the operation again once the agent is healthy`;
    return { kind: 'fail', status: failed(ctx, status, 'AgentLost', message, true) };
  }
  return { kind: 'wait', status, requeueAfterMs: Math.min(limit - gone, 5_000) };
}

export function failed<S extends VolumeStatusBase>(ctx: ControllerContext, status: S, code: string, message: string, retriable: boolean, reason: string = code): S {
  const now = isoTime(ctx.clock);
  let conditions = setCondition(status.conditions, { type: 'Failed', status: 'True', reason, message }, now);
  conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: 'Failed', message }, now);
  if (reason === 'AgentUnavailable') conditions = setCondition(conditions, { type: 'AgentAssigned', status: 'False', reason, message }, now);
  return { ...status, phase: 'Failed', conditions, completionTimestamp: now, error: { code, message, retriable } };
}

export function canceled<S extends VolumeStatusBase>(ctx: ControllerContext, status: S, message: string): S {
  const now = isoTime(ctx.clock);
  const conditions = setCondition(status.conditions, { type: 'Progressing', status: 'False', reason: 'Canceled', message }, now);
  return { ...status, phase: 'Canceled', conditions, completionTimestamp: now, error: { code: 'Canceled', message, retriable: false } };
}

/**
 * Whether the volume's object changed since this reconcile read it. The hub forgets a job
 * once its result is stored, which may have happened after the read: a job missing from the
 * agent's session is then finished, not lost, and must not be sent again (a restore sent
 * twice would write into a volume its pod already uses). Whatever changed it is an event
 * that brings the object back to the controller.
 */
export async function changedSinceRead(ctx: ControllerContext, kind: 'PodVolumeBackup' | 'PodVolumeRestore', read: { readonly metadata: { readonly namespace?: string; readonly name?: string; readonly resourceVersion?: string } }): Promise<boolean> {
  const current = await ctx.cluster.get(kind, read.metadata.namespace ?? '', read.metadata.name ?? '');
  return current?.metadata.resourceVersion !== read.metadata.resourceVersion;
}

/**
 * Restore: New → InProgress → Completed | PartiallyFailed | Failed | Canceled. New checks
 * the Backup and the namespaces; InProgress waits for the pods (adopted by the webhook,
 * given PodVolumeRestores by pod-restore.ts) and aggregates the volumes. An item whose pod
 * never came within podWaitTimeout counts as failed (PodNotFound).
 */
import { ANNOTATIONS, isTerminalPhase, parseDuration, RESTORE_DEFAULTS, type V1alpha1Condition, type V1alpha1OperationPhase } from '@ferry/api';
import { isoTime } from '../clock.js';
import { setCondition } from '../conditions.js';
import { ANNOTATIONS_OUT, LABELS, type ControllerContext } from '../context.js';
import type { BackupObject, PvrObject, RestoreObject, RestoreStatus } from '../objects.js';
import { dispatch, type Decision, type PhaseHandlers } from '../state-machine.js';
import { aggregate, type VolumeLike } from './aggregate.js';
import { involved } from './commit.js';
import { refuseSources, refuseTargets, unverifiedReach } from './restore-sources.js';
import { logWhenEnded, operationId } from '../operation-logs/ended.js';
import { deleteLog, logLocationName } from '../operation-logs/store.js';
import { messageOf } from '../errors.js';
import { ITEM_ANNOTATION, restoreItems, type RestoreItem } from './restore-items.js';
import { driveRestoreHooks, forgetRestoreHookTasks, restoreHookSummary } from './restore-hooks.js';
import { resolveLatest } from './restore-source.js';
import { planClaims } from '../claims/claim-plan.js';
import { deleteRestoreHelpers, driveClaims, refuseClaims, type ClaimStatus } from '../claims/restore-claims.js';


interface Ctx {
  readonly c: ControllerContext;
  readonly restore: RestoreObject;
  readonly status: RestoreStatus;
}

function reject(c: ControllerContext, restore: RestoreObject, status: RestoreStatus, reason: string, message: string): Decision<RestoreStatus> {
  const now = isoTime(c.clock);
  let conditions = setCondition(status.conditions, { type: 'Accepted', status: 'False', reason, message }, now, restore.metadata.generation);
  conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: 'Failed', message }, now);
  return { status: { ...status, phase: 'Failed', conditions, completionTimestamp: now, error: { code: reason, message, retriable: false } }, events: [{ involved: involved('Restore', restore), type: 'Warning', reason, message }] };
}

async function start({ c, restore, status }: Ctx): Promise<Decision<RestoreStatus>> {
  const now = isoTime(c.clock);
  if (restore.spec.cancel) return { status: { ...status, phase: 'Canceled', completionTimestamp: now } };
  const unverified = unverifiedReach(c, restore);
  if (unverified) return reject(c, restore, status, 'NamespaceNotAllowed', unverified);
  const chosen = await chosenBackup(c, restore);
  if (!chosen.ok) return reject(c, restore, status, chosen.reason, chosen.message);
  const resolved: RestoreObject = chosen.backupName === undefined ? restore : { ...restore, status: { ...status, backupName: chosen.backupName } };
  const items = await restoreItems(c, resolved);
  const badTarget = refuseTargets(c, restore, items);
  if (badTarget) return reject(c, restore, status, badTarget.reason, badTarget.message);
  const refused = await refuseSources(c, restore, items);
  if (refused) return reject(c, restore, status, refused.reason, refused.message);
  const plan = planClaims(resolved, items);
  if (!plan.ok) return reject(c, restore, status, 'InvalidTargetClaims', plan.message);
  const claimRefused = await refuseClaims(c, resolved, plan.targets);
  if (claimRefused) return reject(c, restore, status, claimRefused.reason, claimRefused.message);
  let conditions = setCondition(status.conditions, { type: 'Accepted', status: 'True', reason: 'Valid', message: 'the spec is valid' }, now, restore.metadata.generation);
  conditions = setCondition(conditions, { type: 'Progressing', status: 'True', reason: 'WaitingForPod', message: `waiting for pods that use the ${items.length} backed-up volumes to be created` }, now);
  return {
    status: { ...status, ...(chosen.backupName !== undefined ? { backupName: chosen.backupName } : {}), phase: 'InProgress', observedGeneration: restore.metadata.generation, conditions, startTimestamp: now, counts: { total: items.length, new: items.length, inProgress: 0, completed: 0, partiallyFailed: 0, failed: 0, canceled: 0, skipped: 0 } },
    requeueAfterMs: 1_000,
  };
}

type Chosen = { readonly ok: true; readonly backupName?: string } | { readonly ok: false; readonly reason: string; readonly message: string };

/** The Backup behind spec.backupName or spec.latest (resolved now, once), checked restorable; none for spec.snapshots. */
async function chosenBackup(c: ControllerContext, restore: RestoreObject): Promise<Chosen> {
  const own = restore.metadata.namespace ?? '';
  let name = restore.spec.backupName;
  if (restore.spec.latest) {
    const found = await resolveLatest(c.cluster, own, restore.spec.latest);
    if (!found.found) return { ok: false, reason: 'BackupNotFound', message: `Restore ${own}/${restore.metadata.name}: ${found.message}` };
    name = found.backupName;
  }
  if (name === undefined) return { ok: true };
  const backup = await c.cluster.get<BackupObject>('Backup', own, name);
  if (!backup) return { ok: false, reason: 'BackupNotFound', message: `Backup ${own}/${name} does not exist` };
  const phase = backup.status?.phase;
  if (phase !== 'Completed' && phase !== 'PartiallyFailed') return { ok: false, reason: 'BackupNotRestorable', message: `Backup ${own}/${name} is ${phase ?? 'New'}; only Completed or PartiallyFailed backups can be restored` };
  return { ok: true, backupName: name };
}

async function running({ c, restore, status }: Ctx): Promise<Decision<RestoreStatus>> {
  const ns = restore.metadata.namespace ?? '';
  const pvrs = await c.cluster.list<PvrObject>('PodVolumeRestore', ns, `${LABELS.restore}=${restore.metadata.name}`);
  if (restore.spec.cancel) {
    for (const p of pvrs) if (!isTerminalPhase(p.status?.phase) && !p.spec.cancel) await c.cluster.mergePatch('PodVolumeRestore', ns, p.metadata.name ?? '', { spec: { cancel: true } });
  }
  const items = await restoreItems(c, restore);
  const waitMs = durationMs(restore.spec.podWaitTimeout ?? RESTORE_DEFAULTS.podWaitTimeout);
  const expired = c.clock.now() - Date.parse(status.startTimestamp ?? isoTime(c.clock)) >= waitMs;
  const byItem = new Map(pvrs.map((p) => [p.metadata.annotations?.[ITEM_ANNOTATION] ?? '', p]));
  const skipped = skippedCommandItems(items, byItem, expired);
  const plan = planClaims(restore, items);
  const targets = plan.ok ? plan.targets : [];
  const claims = await driveClaims(c, { restore, targets, byItem, expired });
  const claimOf = new Map(targets.map((t, i) => [t.item.key, claims[i]]));
  const volumes: VolumeLike[] = items.filter((i) => !skipped.includes(i)).map((i) => {
    const p = byItem.get(i.key);
    if (p) return { phase: p.status?.phase, progress: p.status?.progress, fileErrorsTotal: p.status?.fileErrorsTotal };
    if (claimOf.get(i.key)?.phase === 'Failed') return { phase: restore.spec.cancel ? 'Canceled' : 'Failed' };
    return { phase: restore.spec.cancel ? 'Canceled' : expired ? 'Failed' : 'New' };
  });
  const now = isoTime(c.clock);
  const agg = aggregate(volumes, skipped.length, restore.spec.cancel === true, now);
  const progress = status.progress && JSON.stringify({ ...agg.progress, updatedAt: '' }) === JSON.stringify({ ...status.progress, updatedAt: '' }) ? status.progress : agg.progress;
  const next: RestoreStatus = { ...status, counts: agg.counts, progress, ...(agg.fileErrorsTotal > 0 ? { fileErrorsTotal: agg.fileErrorsTotal } : {}), ...(claims.length > 0 ? { claims } : {}) };
  // A pod's restore hook runs once its volumes ended, so the Restore finishes only once every hook outcome is recorded.
  const hooks = await driveRestoreHooks(c, restore, pvrs);
  if (!agg.allTerminal || hooks.pending) return { status: next, requeueAfterMs: Math.min(c.settings.progressIntervalMs, Math.max(waitMs - (c.clock.now() - Date.parse(status.startTimestamp ?? now)), 1_000)) };
  // A helper pod still there gives restore-wait its moment; the Restore ends once they are gone.
  if (claims.some((k) => k.helperPod !== undefined)) return { status: next, requeueAfterMs: 2_000 };
  await deleteRestoreHelpers(c, restore, targets);
  forgetRestoreHookTasks(c, restore, pvrs);
  const unmatched = items.filter((i) => !byItem.has(i.key) && !skipped.includes(i) && !claimOf.has(i.key));
  const withSkips = skipped.length > 0 ? { ...next, conditions: setCondition(next.conditions, { type: 'VolumesSelected', status: 'True', reason: 'BackupCommandOutputSkipped', message: `${skipped.length} backup-command output file(s) (${skipped.slice(0, 5).map((i) => i.commandFile).join(', ')}) not restored: no target pod names a volume in ${ANNOTATIONS.backupCommandRestoreVolume}; restore them with \`ferry dump <snapshot> <file>\`` }, now) } : next;
  const phase = withHooks(agg.finalPhase, pvrs);
  return { status: finish(c, withSkips, phase, pvrs, unmatched.length, claims), events: [{ involved: involved('Restore', restore), type: phase === 'Completed' ? 'Normal' : 'Warning', reason: phase, message: `${agg.counts.completed} of ${agg.counts.total} volumes restored${phase !== agg.finalPhase ? '; a restore hook failed (on-error Fail)' : ''}` }] };
}

/** A failed restore hook with on-error Fail turns Completed into PartiallyFailed: the data is back, the replay is not. */
function withHooks(phase: NonNullable<RestoreStatus['phase']>, pvrs: readonly PvrObject[]): NonNullable<RestoreStatus['phase']> {
  return phase === 'Completed' && restoreHookSummary(pvrs).failFast ? 'PartiallyFailed' : phase;
}

/**
 * Backup-command output goes only where a target pod asks for it (annotation). It is not
 * waited for: once every volume item ended (or the pod wait expired), the command items no
 * pod took are skipped with a reason instead of failing the Restore.
 */
function skippedCommandItems(items: readonly RestoreItem[], byItem: ReadonlyMap<string, PvrObject>, expired: boolean): RestoreItem[] {
  const open = items.filter((i) => !byItem.has(i.key));
  const volumesEnded = items.every((i) => i.commandFile !== undefined || isTerminalPhase(byItem.get(i.key)?.status?.phase));
  const anyVolume = items.some((i) => i.commandFile === undefined);
  return (anyVolume && volumesEnded) || expired ? open.filter((i) => i.commandFile !== undefined) : [];
}

function finish(c: ControllerContext, status: RestoreStatus, phase: NonNullable<RestoreStatus['phase']>, pvrs: readonly PvrObject[], unmatched: number, claims: readonly ClaimStatus[]): RestoreStatus {
  const now = isoTime(c.clock);
  const k = status.counts!;
  let conditions = setCondition(status.conditions, { type: 'Progressing', status: 'False', reason: phase, message: `${k.completed} of ${k.total} volumes restored, ${k.failed} failed` }, now);
  const bad = pvrs.filter((p) => p.status?.phase === 'Failed');
  // A claim that failed before its volume started (no PodVolumeRestore) says why here.
  const badClaims = claims.filter((x) => x.phase === 'Failed' && !pvrs.some((p) => p.spec.target.pvc?.name === x.name && p.spec.pod.namespace === x.namespace));
  if (bad.length > 0 || unmatched > 0 || badClaims.length > 0) {
    const parts = bad.slice(0, 5).map((p) => `${p.spec.pod.name}/${p.spec.target.name}: ${p.status?.error?.code ?? '?'}: ${p.status?.error?.message ?? ''}`);
    parts.push(...badClaims.slice(0, 5).map((x) => `claim ${x.namespace}/${x.name}: ${x.reason ?? '?'}: ${x.message ?? ''}`));
    if (unmatched > 0 && phase !== 'Canceled') parts.push(`${unmatched} volume(s) had no matching pod within podWaitTimeout`);
    conditions = setCondition(conditions, { type: 'Failed', status: 'True', reason: bad[0]?.status?.error?.code ?? badClaims[0]?.reason ?? 'PodNotFound', message: parts.join('; ') }, now);
  }
  return { ...status, phase, conditions: hooksCondition(conditions, pvrs, now), completionTimestamp: now };
}

/**
 * Condition HooksSucceeded (only when a pod declared a restore hook): True when every hook
 * ran and exited 0; False with HookFailed naming the failed ones, or HookSkipped when a
 * pod's volumes did not come back so its hook was not run. A failed hook with on-error
 * Fail also sets Failed=True (HookFailed) when no volume failure already did.
 */
function hooksCondition(conditions: V1alpha1Condition[], pvrs: readonly PvrObject[], now: string): V1alpha1Condition[] {
  const { ran, failed, failFast, skipped } = restoreHookSummary(pvrs);
  if (ran + skipped.length === 0) return conditions;
  const skips = skipped.length > 0 ? `${skipped.length} not run: ${skipped.slice(0, 5).join('; ')}` : '';
  if (failed.length > 0) {
    const message = `${failed.length} of ${ran} restore hook(s) failed: ${failed.slice(0, 5).join('; ')}${skips ? `; ${skips}` : ''}`;
    const next = setCondition(conditions, { type: 'HooksSucceeded', status: 'False', reason: 'HookFailed', message }, now);
    return failFast && !next.some((x) => x.type === 'Failed' && x.status === 'True') ? setCondition(next, { type: 'Failed', status: 'True', reason: 'HookFailed', message }, now) : next;
  }
  if (skipped.length > 0) return setCondition(conditions, { type: 'HooksSucceeded', status: 'False', reason: 'HookSkipped', message: `${ran > 0 ? `${ran} restore hook(s) ran and succeeded; ` : ''}${skips}` }, now);
  return setCondition(conditions, { type: 'HooksSucceeded', status: 'True', reason: 'HooksSucceeded', message: `${ran} restore hook(s) ran and succeeded` }, now);
}

function durationMs(text: string): number {
  const d = parseDuration(text);
  return d.ok ? d.milliseconds : 24 * 3600_000;
}

/** A finished Restore stores its log once; then there is nothing left to do. */
const done = async ({ c, restore }: Ctx): Promise<Decision<RestoreStatus>> => (await logWhenEnded(c, 'Restore', restore)) ?? {};

const HANDLERS: PhaseHandlers<V1alpha1OperationPhase, Ctx, RestoreStatus> = {
  New: start,
  InProgress: running,
  Completed: done,
  PartiallyFailed: done,
  Failed: done,
  Canceled: done,
};

/** Held while a Restore runs, so deleting it cancels its volumes (and frees held pods) first. */
export const RESTORE_FINALIZER = 'ferry.dev/restore-cancel';

export async function reconcileRestore(c: ControllerContext, restore: RestoreObject): Promise<Decision<RestoreStatus>> {
  const status = restore.status ?? {};
  const finalizers = restore.metadata.finalizers ?? [];
  if (restore.metadata.deletionTimestamp) return finalizeRestore(c, restore, status);
  if (!isTerminalPhase(status.phase) && !finalizers.includes(RESTORE_FINALIZER)) {
    await c.cluster.mergePatch('Restore', restore.metadata.namespace ?? '', restore.metadata.name ?? '', { metadata: { finalizers: [...finalizers, RESTORE_FINALIZER] } });
    return { requeueAfterMs: 0 };
  }
  return dispatch(HANDLERS, status.phase ?? 'New', { c, restore, status });
}

/**
 * Deleting a running Restore is a cancel that ends in deletion: spec.cancel is set, the
 * usual InProgress handler cancels the PodVolumeRestores (restore-wait exits non-zero, the
 * pods restart without restored data) and aggregates to Canceled; then the finalizer goes.
 */
async function finalizeRestore(c: ControllerContext, restore: RestoreObject, status: RestoreStatus): Promise<Decision<RestoreStatus>> {
  const ns = restore.metadata.namespace ?? '';
  const name = restore.metadata.name ?? '';
  const finalizers = restore.metadata.finalizers ?? [];
  if (!finalizers.includes(RESTORE_FINALIZER)) return {};
  if (!isTerminalPhase(status.phase)) {
    if (restore.spec.cancel) return dispatch(HANDLERS, status.phase ?? 'New', { c, restore, status });
    // The status is written against the object read next, not this one the patch outdates.
    await c.cluster.mergePatch('Restore', ns, name, { spec: { cancel: true } });
    return { requeueAfterMs: 0 };
  }
  await removeLog(c, restore);
  await c.cluster.mergePatch('Restore', ns, name, { metadata: { finalizers: finalizers.filter((f) => f !== RESTORE_FINALIZER), resourceVersion: undefined } });
  return {};
}

/** The log goes with its Restore (its volumes, which name the location, still exist here); a failure is left to the location's sweep. */
async function removeLog(c: ControllerContext, restore: RestoreObject): Promise<void> {
  const op = operationId('Restore', restore);
  c.operationLogs?.forget(op.uid);
  try {
    const location = await logLocationName(c, op, restore);
    if (location) await deleteLog(c, location, op);
  } catch (err) {
    c.log.warn('deleting a Restore\'s log failed; the location sweep removes it later', { namespace: op.namespace, restore: op.name, error: messageOf(err) });
  }
}

export { ANNOTATIONS_OUT };

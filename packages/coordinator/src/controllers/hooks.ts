/**
 * Pre and post backup hooks (pod annotations `pre.hook.backup.ferry.dev/*` and
 * `post.hook.backup.ferry.dev/*`), run by the coordinator through `ClusterState.exec`
 * because agents have no Kubernetes rights. Per pod of a Backup:
 * - the pre hook runs before any of the pod's PodVolumeBackups is started (they wait in New);
 * - the post hook runs once all of them ended, whatever the outcome, or (snapshot mode) as
 *   soon as each one's VolumeSnapshot is cut: the copy reads the snapshot, not the live volume.
 *
 * State lives on the pod's PodVolumeBackups as annotations (`ferry.dev/pre-hook`,
 * `ferry.dev/post-hook`): `Pending` when created, then the outcome. A hook whose outcome is
 * recorded never runs again (also not after a coordinator restart); one interrupted by a
 * restart before its outcome was recorded runs again (at least once, at most once done).
 * Hooks run as background tasks (`tasks.ts`) so a slow hook never holds a reconcile.
 */
import { ANNOTATIONS, parsePodAnnotations, type HookAnnotation } from '@ferry/api';
import type { V1Pod } from '@kubernetes/client-node';
import { recordHook } from '../operation-logs/record.js';
import type { ControllerContext } from '../context.js';
import { objectKey } from '../context.js';
import { isTerminalPhase } from '@ferry/api';
import type { BackupObject, PvbObject } from '../objects.js';
import { involved } from './commit.js';
import { discard, OutputTail, tailSuffix } from './exec-output.js';
import { tasksOf } from './tasks.js';
import { snapshotCut } from './snapshot-volume.js';

export type HookWhich = 'pre' | 'post';

export const HOOK_STATE_ANNOTATIONS: Readonly<Record<HookWhich, string>> = { pre: 'ferry.dev/pre-hook', post: 'ferry.dev/post-hook' };

export interface HookRecord {
  readonly outcome: 'Pending' | 'Succeeded' | 'Failed' | 'Skipped';
  readonly container?: string;
  readonly onError?: HookAnnotation['onError'];
  /** -1: unknown (timed out, stream cut, exec refused). */
  readonly exitCode?: number;
  readonly message?: string;
}

const PENDING = JSON.stringify({ outcome: 'Pending' } satisfies HookRecord);

/**
 * The annotations a new PodVolumeBackup of this pod carries: one `Pending` per hook the pod
 * declares. A hook whose command annotation is malformed is recorded as failed with on-error
 * Fail at once: backing up data a broken pre hook was meant to make consistent is worse than
 * failing the pod's volumes (HookFailed).
 */
export function initialHookAnnotations(hooks: { preHook?: HookAnnotation; postHook?: HookAnnotation }, problems: readonly { key: string; value: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const which of ['pre', 'post'] as const) {
    const key = which === 'pre' ? ANNOTATIONS.preHookCommand : ANNOTATIONS.postHookCommand;
    const bad = problems.find((p) => p.key === key);
    if (bad) out[HOOK_STATE_ANNOTATIONS[which]] = JSON.stringify({ outcome: 'Failed', onError: 'Fail', exitCode: -1, message: `the ${which} hook was not run: annotation ${key} is malformed (${JSON.stringify(bad.value)})` } satisfies HookRecord);
    else if (which === 'pre' ? hooks.preHook : hooks.postHook) out[HOOK_STATE_ANNOTATIONS[which]] = PENDING;
  }
  return out;
}

export function hookRecord(pvb: PvbObject, which: HookWhich): HookRecord | undefined {
  return readHookRecord(pvb, HOOK_STATE_ANNOTATIONS[which]);
}

/** The hook state an operation's volume object carries under `key` (an unreadable one counts as failed). */
export function readHookRecord(o: { readonly metadata: { readonly annotations?: Readonly<Record<string, string>> } }, key: string): HookRecord | undefined {
  const raw = o.metadata.annotations?.[key];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as HookRecord;
  } catch {
    return { outcome: 'Failed', message: `unreadable ${key} annotation`, onError: 'Fail' };
  }
}

export type PreHookGate = { readonly kind: 'go' } | { readonly kind: 'wait' } | { readonly kind: 'fail'; readonly message: string };

/** May this volume start? Waits for a pending pre hook; a failed one with on-error Fail fails the volume. */
export function preHookGate(pvb: PvbObject): PreHookGate {
  const r = hookRecord(pvb, 'pre');
  if (!r || r.outcome === 'Succeeded' || r.outcome === 'Skipped') return { kind: 'go' };
  if (r.outcome === 'Pending') return { kind: 'wait' };
  return r.onError === 'Continue' ? { kind: 'go' } : { kind: 'fail', message: `${r.message ?? 'the pre hook failed'}; the pod's volumes were not backed up (on-error Fail)` };
}

export const hookDone = (r: HookRecord | undefined): r is HookRecord => r !== undefined && r.outcome !== 'Pending';

/**
 * Starts the hooks that are due for each pod of the Backup and copies a recorded outcome to
 * sibling volumes an interrupted write missed. Returns whether a post hook is still to come
 * (the Backup stays InProgress until every post hook is recorded).
 */
export async function driveHooks(c: ControllerContext, backup: BackupObject, pvbs: readonly PvbObject[]): Promise<{ postPending: boolean }> {
  let postPending = false;
  for (const group of byPod(pvbs).values()) {
    const pre = await settle(c, group, 'pre');
    const post = await settle(c, group, 'post');
    if (pre === 'pending') startHook(c, backup, group, 'pre');
    // In snapshot mode the data is frozen once the snapshot is cut: the post hook need not wait for the copy.
    else if (post === 'pending' && group.every((p) => isTerminalPhase(p.status?.phase) || snapshotCut(p))) startHook(c, backup, group, 'post');
    if (post === 'pending') postPending = true;
  }
  return { postPending };
}

/** An operation's volume objects (PodVolumeBackups, PodVolumeRestores) grouped by pod uid. */
export function byPod<T extends { readonly spec: { readonly pod: { readonly uid: string } } }>(objects: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const p of objects) groups.set(p.spec.pod.uid, [...(groups.get(p.spec.pod.uid) ?? []), p]);
  return groups;
}

/** `none` (no such hook), `pending`, or `done` after making every volume of the pod carry the outcome. */
async function settle(c: ControllerContext, group: readonly PvbObject[], which: HookWhich): Promise<'none' | 'pending' | 'done'> {
  const records = group.map((p) => hookRecord(p, which));
  if (records.every((r) => r === undefined)) return 'none';
  const outcome = records.find(hookDone);
  if (!outcome) return 'pending';
  const missed = group.filter((_, i) => records[i]?.outcome === 'Pending');
  if (missed.length > 0) await record(c, missed, which, outcome);
  return 'done';
}

function record(c: ControllerContext, pvbs: readonly PvbObject[], which: HookWhich, r: HookRecord): Promise<void> {
  return writeHookRecord(c, 'PodVolumeBackup', pvbs, HOOK_STATE_ANNOTATIONS[which], r);
}

/** Writes a hook's outcome on each of the pod's volume objects: what keeps a finished hook from running again. */
export async function writeHookRecord(c: ControllerContext, kind: 'PodVolumeBackup' | 'PodVolumeRestore', objects: readonly { readonly metadata: { readonly namespace?: string; readonly name?: string } }[], key: string, r: HookRecord): Promise<void> {
  for (const p of objects) {
    await c.cluster.mergePatch(kind, p.metadata.namespace ?? '', p.metadata.name ?? '', { metadata: { annotations: { [key]: JSON.stringify(r) } } });
  }
}

function startHook(c: ControllerContext, backup: BackupObject, group: readonly PvbObject[], which: HookWhich): void {
  const first = group[0];
  if (!first) return;
  const key = `hook/${backup.metadata.uid}/${first.spec.pod.uid}/${which}`;
  tasksOf(c).start(key, {}, objectKey('Backup', backup.metadata.namespace ?? '', backup.metadata.name ?? ''), async () => {
    const r = await runHook(c, first.spec.pod, which);
    await record(c, group, which, r);
    await announce(c, backup, first.spec.pod, which, r);
    return r;
  });
}

/** Drops the finished hook tasks of a Backup (their outcomes are recorded on its volumes). */
export function forgetHookTasks(c: ControllerContext, backup: BackupObject, pvbs: readonly PvbObject[]): void {
  for (const uid of byPod(pvbs).keys()) for (const which of ['pre', 'post'] as const) tasksOf(c).forget(`hook/${backup.metadata.uid}/${uid}/${which}`);
}

/** Runs the hook the pod declares now; the outcome never carries the command's output beyond a short stderr tail. */
export async function runHook(c: ControllerContext, podRef: { namespace: string; name: string; uid: string }, which: HookWhich): Promise<HookRecord> {
  const label = `${which} hook of pod ${podRef.namespace}/${podRef.name}`;
  const pod = await c.cluster.getPod(podRef.namespace, podRef.name);
  if (!pod || pod.metadata?.uid !== podRef.uid) return { outcome: 'Failed', exitCode: -1, onError: 'Fail', message: `${label}: the pod is gone` };
  const hook = hookOf(pod, which);
  if (!hook) return { outcome: 'Skipped', message: `${label}: the pod no longer declares it` };
  return execHook(c, { pod: podRef, container: hook.container ?? pod.spec?.containers[0]?.name ?? '', hook, label });
}

/** Execs a hook's command in the container, bounded by its timeout: Succeeded on exit 0, else Failed with the exit code (-1: unknown) and a stderr tail. */
export async function execHook(c: ControllerContext, o: { readonly pod: { namespace: string; name: string }; readonly container: string; readonly hook: HookAnnotation; readonly label: string }): Promise<HookRecord> {
  const { hook, container } = o;
  const where = `${o.label} in container ${container}`;
  const stderr = new OutputTail();
  const signal = AbortSignal.timeout(hook.timeoutMilliseconds);
  const r = await c.cluster.exec({ namespace: o.pod.namespace, pod: o.pod.name, container, command: hook.command.argv, stdout: discard(), stderr, signal });
  const base = { container, onError: hook.onError, exitCode: r.exitCode };
  if (r.exitCode === 0) return { ...base, outcome: 'Succeeded', message: `${where} succeeded` };
  if (signal.aborted) return { ...base, outcome: 'Failed', message: `${where} timed out after ${hook.timeoutMilliseconds / 1000} s and was stopped${tailSuffix(stderr)}` };
  const why = r.exitCode > 0 ? `exited with code ${r.exitCode}` : `failed: ${r.message ?? 'no exit status'}`;
  return { ...base, outcome: 'Failed', message: `${where} ${why}${tailSuffix(stderr)}` };
}

function hookOf(pod: V1Pod, which: HookWhich): HookAnnotation | undefined {
  const parsed = parsePodAnnotations({ annotations: pod.metadata?.annotations, containers: (pod.spec?.containers ?? []).map((x) => x.name) }).annotations;
  return which === 'pre' ? parsed.preHook : parsed.postHook;
}

async function announce(c: ControllerContext, backup: BackupObject, pod: { namespace: string; name: string; uid: string }, which: HookWhich, r: HookRecord): Promise<void> {
  const ok = r.outcome !== 'Failed';
  const reason = `${which === 'pre' ? 'Pre' : 'Post'}Hook${ok ? (r.outcome === 'Skipped' ? 'Skipped' : 'Succeeded') : 'Failed'}`;
  const message = `Ferry backup ${backup.metadata.name}: ${r.message ?? ''}${!ok ? ` (on-error ${r.onError ?? 'Fail'})` : ''}`;
  c.log[ok ? 'info' : 'warn']('hook finished', { namespace: pod.namespace, pod: pod.name, backup: backup.metadata.name, hook: which, container: r.container, exitCode: r.exitCode, outcome: r.outcome });
  const type = ok ? 'Normal' : 'Warning';
  await c.cluster.event({ involved: { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace, uid: pod.uid }, type, reason, message }, c.clock);
  await c.cluster.event({ involved: involved('Backup', backup), type, reason, message }, c.clock);
  recordHook(c, backup.metadata.uid ?? '', { pod: pod.name, ok, reason, message });
}

/** For the Backup's `Hooks` condition: the failed hooks' messages, and how many hooks ended. */
export function hookSummary(pvbs: readonly PvbObject[]): { ran: number; failed: string[] } {
  let ran = 0;
  const failed: string[] = [];
  for (const group of byPod(pvbs).values()) {
    for (const which of ['pre', 'post'] as const) {
      const r = group.map((p) => hookRecord(p, which)).find(hookDone);
      if (!r) continue;
      ran++;
      if (r.outcome === 'Failed') failed.push(`${r.message ?? `${which} hook failed`} (exit code ${r.exitCode ?? -1}, on-error ${r.onError ?? 'Fail'})`);
    }
  }
  return { ran, failed };
}

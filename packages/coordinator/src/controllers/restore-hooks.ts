/**
 * Post-restore hooks (pod annotations `post.hook.restore.ferry.dev/*`), read from the
 * restored pod as it exists in the cluster (the pod the user's tooling recreated, which
 * carries the backed-up pod's annotations when its template does). Per pod of a Restore:
 * once every PodVolumeRestore of the pod ended with its data back, the coordinator waits
 * for the hook's container to run (restore-wait has let the pod start) and execs the
 * command in it, like a backup hook (hooks.ts: timeout, on-error, stderr tail).
 *
 * State lives on the pod's PodVolumeRestores (annotation `ferry.dev/restore-hook`):
 * `Pending` when created, then the outcome, so a recorded hook never runs again (also not
 * after a coordinator restart); one interrupted before its outcome was recorded runs again.
 */
import { ANNOTATIONS, formatAnnotationProblem, isTerminalPhase, parsePodAnnotations, type AnnotationProblem, type RestoreHookAnnotation } from '@ferry/api';
import type { V1Pod } from '@kubernetes/client-node';
import { objectKey, type ControllerContext } from '../context.js';
import type { PvrObject, RestoreObject } from '../objects.js';
import { involved } from './commit.js';
import { byPod, execHook, hookDone, readHookRecord, writeHookRecord, type HookRecord } from './hooks.js';
import { tasksOf } from './tasks.js';

export const RESTORE_HOOK_ANNOTATION = 'ferry.dev/restore-hook';

/** Only the restore hook's own keys are the Restore's business; the rest was reported by the Backup. */
const RESTORE_HOOK_DOMAINS = ['post.hook.restore.ferry.dev/', 'pre.hook.restore.ferry.dev/'];
const POLL_MS = 1_000;

function parseRestoreHook(pod: V1Pod): { hook?: RestoreHookAnnotation; problems: AnnotationProblem[] } {
  const parsed = parsePodAnnotations({ annotations: pod.metadata?.annotations, containers: (pod.spec?.containers ?? []).map((x) => x.name) });
  const problems = parsed.problems.filter((p) => RESTORE_HOOK_DOMAINS.some((d) => p.key.startsWith(d)));
  return { ...(parsed.annotations.restoreHook ? { hook: parsed.annotations.restoreHook } : {}), problems };
}

/**
 * The annotation a new PodVolumeRestore of this pod carries: `Pending` when the pod declares
 * a restore hook (and the Restore's spec.hooks is not Skip: then nothing, and no hook runs). A malformed command is recorded as failed with on-error Fail at once: the
 * Restore must not report Completed for data the replay was meant to load.
 */
export function initialRestoreHookAnnotations(restore: RestoreObject, pod: V1Pod): Record<string, string> {
  const raw = pod.metadata?.annotations?.[ANNOTATIONS.restoreHookCommand];
  if (raw === undefined || restore.spec.hooks === 'Skip') return {};
  const { hook, problems } = parseRestoreHook(pod);
  if (hook) return { [RESTORE_HOOK_ANNOTATION]: JSON.stringify({ outcome: 'Pending' } satisfies HookRecord) };
  const why = problems.find((p) => p.key === ANNOTATIONS.restoreHookCommand);
  const message = `the restore hook of pod ${pod.metadata?.namespace}/${pod.metadata?.name} was not run: annotation ${why ? formatAnnotationProblem(why) : `${ANNOTATIONS.restoreHookCommand} is malformed`}`;
  return { [RESTORE_HOOK_ANNOTATION]: JSON.stringify({ outcome: 'Failed', onError: 'Fail', exitCode: -1, message } satisfies HookRecord) };
}

const restoreHookRecord = (pvr: PvrObject): HookRecord | undefined => readHookRecord(pvr, RESTORE_HOOK_ANNOTATION);
const dataBack = (pvr: PvrObject): boolean => pvr.status?.phase === 'Completed' || pvr.status?.phase === 'PartiallyFailed';

/**
 * Starts the restore hooks that are due, records a skip for pods whose data did not come
 * back, and copies a recorded outcome to sibling volumes an interrupted write missed.
 * Returns whether a hook outcome is still to come (the Restore stays InProgress until then).
 */
export async function driveRestoreHooks(c: ControllerContext, restore: RestoreObject, pvrs: readonly PvrObject[]): Promise<{ pending: boolean }> {
  let pending = false;
  for (const group of byPod(pvrs).values()) {
    const records = group.map(restoreHookRecord);
    if (records.every((r) => r === undefined)) continue;
    const outcome = records.find(hookDone);
    if (outcome) {
      const missed = group.filter((_, i) => records[i]?.outcome === 'Pending');
      if (missed.length > 0) await writeHookRecord(c, 'PodVolumeRestore', missed, RESTORE_HOOK_ANNOTATION, outcome);
      continue;
    }
    pending = true;
    if (!group.every((p) => isTerminalPhase(p.status?.phase))) continue;
    const lost = group.filter((p) => !dataBack(p));
    if (lost.length > 0) await writeHookRecord(c, 'PodVolumeRestore', group, RESTORE_HOOK_ANNOTATION, skipped(group, lost));
    else startRestoreHook(c, restore, group);
  }
  return { pending };
}

function skipped(group: readonly PvrObject[], lost: readonly PvrObject[]): HookRecord {
  const pod = group[0]!.spec.pod;
  const volumes = lost.map((p) => `${p.spec.target.name} (${p.status?.phase ?? 'New'})`).sort().join(', ');
  return { outcome: 'Skipped', message: `the restore hook of pod ${pod.namespace}/${pod.name} was not run: volume(s) ${volumes} were not restored` };
}

const taskKey = (restore: RestoreObject, podUid: string): string => `restore-hook/${restore.metadata.uid}/${podUid}`;

function startRestoreHook(c: ControllerContext, restore: RestoreObject, group: readonly PvrObject[]): void {
  const pod = group[0]!.spec.pod;
  tasksOf(c).start(taskKey(restore, pod.uid), {}, objectKey('Restore', restore.metadata.namespace ?? '', restore.metadata.name ?? ''), async (h) => {
    const r = await runRestoreHook(c, restore, pod, h.abort.signal);
    // Aborted: this coordinator stopped leading; the next leader runs the hook (nothing recorded).
    if (h.abort.signal.aborted) throw new Error(`the restore hook of pod ${pod.namespace}/${pod.name} was interrupted: the coordinator stopped leading`);
    await writeHookRecord(c, 'PodVolumeRestore', group, RESTORE_HOOK_ANNOTATION, r);
    await announce(c, restore, pod, r);
    return r;
  });
}

/** Drops the finished restore hook tasks of a Restore (their outcomes are recorded on its volumes). */
export function forgetRestoreHookTasks(c: ControllerContext, restore: RestoreObject, pvrs: readonly PvrObject[]): void {
  for (const uid of byPod(pvrs).keys()) tasksOf(c).forget(taskKey(restore, uid));
}

/** Waits (up to the hook's wait-timeout) for its container to run, then execs the hook. */
export async function runRestoreHook(c: ControllerContext, restore: RestoreObject, podRef: { namespace: string; name: string; uid: string }, signal: AbortSignal): Promise<HookRecord> {
  const label = `restore hook of pod ${podRef.namespace}/${podRef.name}`;
  let deadline: number | undefined;
  let reported = false;
  for (;;) {
    const pod = await c.cluster.getPod(podRef.namespace, podRef.name);
    if (!pod || pod.metadata?.uid !== podRef.uid || pod.metadata.deletionTimestamp) return { outcome: 'Failed', exitCode: -1, onError: 'Fail', message: `${label}: the pod is gone` };
    const { hook, problems } = parseRestoreHook(pod);
    if (!hook) return { outcome: 'Skipped', message: `${label}: the pod no longer declares it` };
    if (!reported) await reportProblems(c, restore, pod, problems);
    reported = true;
    const container = hook.container ?? pod.spec?.containers[0]?.name ?? '';
    deadline ??= c.clock.now() + hook.waitTimeoutMilliseconds;
    if (containerRuns(pod, container)) return execHook(c, { pod: podRef, container, hook, label });
    if (c.clock.now() >= deadline) return { outcome: 'Failed', container, onError: hook.onError, exitCode: -1, message: `${label}: container ${container} did not run within the wait-timeout of ${hook.waitTimeoutMilliseconds / 1000} s after the pod's volumes were restored; the hook was not run` };
    await c.clock.sleep(Math.min(POLL_MS, deadline - c.clock.now()), signal);
    if (signal.aborted) return { outcome: 'Failed', exitCode: -1, onError: hook.onError, message: `${label}: interrupted` };
  }
}

function containerRuns(pod: V1Pod, container: string): boolean {
  const s = (pod.status?.containerStatuses ?? []).find((x) => x.name === container);
  return s?.state?.running !== undefined && s.state.running !== null;
}

/** The restore hook annotations' problems as Warning Events (the hook still runs with the safe reading). */
async function reportProblems(c: ControllerContext, restore: RestoreObject, pod: V1Pod, problems: readonly AnnotationProblem[]): Promise<void> {
  for (const p of problems) {
    const message = `Ferry restore ${restore.metadata.name}: ${formatAnnotationProblem(p)}`;
    await c.cluster.event({ involved: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', uid: pod.metadata?.uid ?? '' }, type: 'Warning', reason: 'MalformedAnnotation', message }, c.clock);
    await c.cluster.event({ involved: involved('Restore', restore), type: 'Warning', reason: 'MalformedAnnotation', message: `pod ${pod.metadata?.namespace}/${pod.metadata?.name}: ${message}` }, c.clock);
  }
}

async function announce(c: ControllerContext, restore: RestoreObject, pod: { namespace: string; name: string; uid: string }, r: HookRecord): Promise<void> {
  const ok = r.outcome !== 'Failed';
  const reason = `PostRestoreHook${ok ? (r.outcome === 'Skipped' ? 'Skipped' : 'Succeeded') : 'Failed'}`;
  const message = `Ferry restore ${restore.metadata.name}: ${r.message ?? ''}${!ok ? ` (on-error ${r.onError ?? 'Fail'})` : ''}`;
  c.log[ok ? 'info' : 'warn']('restore hook finished', { namespace: pod.namespace, pod: pod.name, restore: restore.metadata.name, container: r.container, exitCode: r.exitCode, outcome: r.outcome });
  const type = ok ? 'Normal' : 'Warning';
  await c.cluster.event({ involved: { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace, uid: pod.uid }, type, reason, message }, c.clock);
  await c.cluster.event({ involved: involved('Restore', restore), type, reason, message }, c.clock);
}

export interface RestoreHookOutcome {
  readonly namespace: string;
  readonly pod: string;
  readonly record: HookRecord;
}

/** Each pod's restore hook outcome (Pending included), one per pod. */
export function restoreHookOutcomes(pvrs: readonly PvrObject[]): RestoreHookOutcome[] {
  const out: RestoreHookOutcome[] = [];
  for (const group of byPod(pvrs).values()) {
    const records = group.map(restoreHookRecord);
    const record = records.find(hookDone) ?? records.find((r) => r !== undefined);
    if (record) out.push({ namespace: group[0]!.spec.pod.namespace, pod: group[0]!.spec.pod.name, record });
  }
  return out;
}

/** For the Restore's HooksSucceeded condition and final phase: the failed hooks (and whether one had on-error Fail), the skipped ones. */
export function restoreHookSummary(pvrs: readonly PvrObject[]): { ran: number; failed: string[]; failFast: boolean; skipped: string[] } {
  const ended = restoreHookOutcomes(pvrs).map((o) => o.record).filter(hookDone);
  const failed = ended.filter((r) => r.outcome === 'Failed');
  return {
    ran: ended.filter((r) => r.outcome !== 'Skipped').length,
    failed: failed.map((r) => `${r.message ?? 'restore hook failed'} (exit code ${r.exitCode ?? -1}, on-error ${r.onError ?? 'Fail'})`),
    failFast: failed.some((r) => r.onError !== 'Continue'),
    skipped: ended.filter((r) => r.outcome === 'Skipped').map((r) => r.message ?? 'skipped'),
  };
}

/**
 * PodVolumeBackups of kind `command`: the pod's `backup.ferry.dev/backup-command` runs in its
 * container through `ClusterState.exec`, and its stdout streams into a snapshot as one file
 * (`<pod>-<container>[.<ext>]`) written by the coordinator's own NativeMover (agents have no
 * Kubernetes rights, so they cannot exec). Memory stays bounded: the PassThrough between
 * exec and mover applies back-pressure, which pauses the exec socket.
 *
 * The snapshot is committed only when the stream ended AND the command exited 0: the source
 * the mover reads ends only then, and throws otherwise, so a truncated dump is never stored
 * as a success (uploaded packs are left to prune). The work runs as a background task keyed
 * by job id; a restarted coordinator has no task for the attempt and starts the next one.
 */
import { PassThrough } from 'node:stream';
import { isMoverError, type BackupResult, type SourceIdentity } from '@ferry/mover';
import { ANNOTATIONS, parseCommand, parseDuration } from '@ferry/api';
import { isoTime } from '../clock.js';
import { setCondition } from '../conditions.js';
import type { ControllerContext } from '../context.js';
import { objectKey } from '../context.js';
import { messageOf } from '../errors.js';
import { jobIdOf } from '../jobs.js';
import type { PvbObject, PvbStatus } from '../objects.js';
import { nativePurgeMover } from '../purge.js';
import type { Decision } from '../state-machine.js';
import { canceled, failed } from './agent-wait.js';
import { OutputTail, tailSuffix } from './exec-output.js';
import { tasksOf, type TaskHandle } from './tasks.js';

/** Read-ahead between the exec socket and the chunker; the socket pauses beyond it. */
const PIPE_BYTES = 4 * 1024 * 1024;

interface CommandProgress {
  bytes: number;
}

type CommandOutcome =
  | { readonly kind: 'completed'; readonly result: BackupResult }
  | { readonly kind: 'failed'; readonly code: string; readonly reason: string; readonly message: string; readonly retriable: boolean }
  | { readonly kind: 'canceled'; readonly message: string };

const taskKey = (pvb: PvbObject, attempt: number) => `command/${jobIdOf(pvb.metadata.uid ?? '', attempt)}`;
const describe = (pvb: PvbObject) => `the backup command of pod ${pvb.spec.pod.namespace}/${pvb.spec.pod.name} (container ${pvb.spec.volume.command?.container ?? pvb.spec.volume.name})`;

/** New → InProgress: checks the mover and starts the command (idempotent: the same attempt's task is reused). */
export async function startCommand(c: ControllerContext, pvb: PvbObject, status: PvbStatus): Promise<Decision<PvbStatus>> {
  if (pvb.spec.mover !== 'native') {
    return { status: failed(c, status, 'Unsupported', `${describe(pvb)} cannot be stored: BackupRepository ${pvb.spec.repository} uses the ${pvb.spec.mover} mover, and backup commands run in the coordinator, which writes native repositories only; back this pod up with a native BackupLocation`, false, 'Unsupported') };
  }
  const attempt = (status.attempt ?? 0) + 1;
  tasksOf(c).start<CommandProgress>(taskKey(pvb, attempt), { bytes: 0 }, objectKey('PodVolumeBackup', pvb.metadata.namespace ?? '', pvb.metadata.name ?? ''), (h) => runCommandBackup(c, pvb, h));
  const now = isoTime(c.clock);
  const conditions = setCondition(status.conditions, { type: 'Progressing', status: 'True', reason: 'CommandRunning', message: `the coordinator runs ${describe(pvb)} (attempt ${attempt})` }, now);
  return { status: { ...status, phase: 'InProgress', attempt, startTimestamp: status.startTimestamp ?? now, conditions }, requeueAfterMs: c.settings.progressIntervalMs };
}

/** InProgress: writes progress, passes a cancel on, and writes the outcome once the task has one. */
export async function runningCommand(c: ControllerContext, pvb: PvbObject, status: PvbStatus): Promise<Decision<PvbStatus>> {
  const attempt = status.attempt ?? 1;
  const key = taskKey(pvb, attempt);
  const task = tasksOf(c).get<CommandProgress>(key);
  if (!task) return { status: lostTask(c, status, attempt) };
  if (task.outcome === undefined) {
    if (pvb.spec.cancel) task.abort.abort(new Error('spec.cancel was set on the PodVolumeBackup'));
    return { status: withProgress(c, status, task.state.bytes), requeueAfterMs: c.settings.progressIntervalMs };
  }
  tasksOf(c).forget(key);
  return { status: finalStatus(c, status, task.outcome as CommandOutcome, task.state.bytes) };
}

/** No task for the attempt: this coordinator restarted (or the task broke); run it again up to maxAttempts. */
function lostTask(c: ControllerContext, status: PvbStatus, attempt: number): PvbStatus {
  const why = 'the coordinator that ran the backup command restarted';
  if (attempt >= c.settings.maxAttempts) return failed(c, status, 'Interrupted', `${why}; gave up after ${attempt} attempts`, true, 'BackupCommandFailed');
  const conditions = setCondition(status.conditions, { type: 'Progressing', status: 'False', reason: 'Interrupted', message: `${why}; running it again (attempt ${attempt + 1})` }, isoTime(c.clock));
  return { ...status, phase: 'New', conditions };
}

function withProgress(c: ControllerContext, status: PvbStatus, bytes: number): PvbStatus {
  if (status.progress?.bytesDone === bytes) return status;
  return { ...status, progress: { bytesDone: bytes, filesDone: 0, updatedAt: isoTime(c.clock) } };
}

function finalStatus(c: ControllerContext, status: PvbStatus, outcome: CommandOutcome, bytes: number): PvbStatus {
  const now = isoTime(c.clock);
  if (outcome.kind === 'canceled') return canceled(c, status, outcome.message);
  if (outcome.kind === 'failed') return { ...failed(c, status, outcome.code, outcome.message, outcome.retriable, outcome.reason), progress: { bytesDone: bytes, filesDone: 0, updatedAt: now } };
  const { result } = outcome;
  const s = result.stats;
  const message = `snapshot ${result.snapshotId.slice(0, 12)} written (${s.bytesProcessed} bytes of command output)`;
  return {
    ...status,
    phase: 'Completed',
    completionTimestamp: now,
    conditions: setCondition(status.conditions, { type: 'Progressing', status: 'False', reason: 'Completed', message }, now),
    snapshotId: result.snapshotId,
    ...(result.parentId ? { parentSnapshotId: result.parentId } : {}),
    progress: { bytesDone: s.bytesProcessed, totalBytes: s.bytesProcessed, filesDone: 1, totalFiles: 1, updatedAt: now },
    stats: { filesNew: s.filesNew, filesChanged: s.filesChanged, filesUnmodified: s.filesUnmodified, bytesAdded: s.bytesAdded, bytesDeduplicated: s.bytesDeduplicated },
  };
}

/**
 * Lineage: namespace / pod owner / container. A Deployment's pods change names, so their
 * dumps follow the controller; a StatefulSet's (or a bare) pod is its own lineage.
 */
export function commandIdentity(pvb: PvbObject): SourceIdentity {
  const owner = pvb.spec.pod.controller;
  const pod = owner && owner.kind !== 'StatefulSet' ? `${owner.kind.toLowerCase()}-${owner.name}` : pvb.spec.pod.name;
  return { kind: 'pod', namespace: pvb.spec.pod.namespace, pod, volume: `command-${pvb.spec.volume.command?.container ?? pvb.spec.volume.name}` };
}

class CommandFailed extends Error {}

async function runCommandBackup(c: ControllerContext, pvb: PvbObject, h: TaskHandle<CommandProgress>): Promise<CommandOutcome> {
  const spec = await commandSpec(c, pvb);
  if ('kind' in spec) return spec;
  const limit = parseDuration(pvb.spec.timeout ?? '');
  const timeoutMs = limit.ok ? limit.milliseconds : 0;
  const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
  const signal = timeout ? AbortSignal.any([h.abort.signal, timeout]) : h.abort.signal;
  const stopExec = new AbortController();
  const stdout = new PassThrough({ highWaterMark: PIPE_BYTES });
  // The reader learns of a failure from the iteration or the exit status; an 'error' with no reader left must not crash the process.
  stdout.on('error', () => undefined);
  const stderr = new OutputTail();
  let exited: number | undefined;
  const execution = c.cluster
    .exec({ namespace: pvb.spec.pod.namespace, pod: pvb.spec.pod.name, container: spec.container, command: spec.argv, stdout, stderr, signal: AbortSignal.any([signal, stopExec.signal]) })
    .then((r) => {
      exited ??= r.exitCode;
      if (r.exitCode === 0) stdout.end();
      else stdout.destroy(new CommandFailed(commandFailure(r.exitCode, r.message) + tailSuffix(stderr)));
      return r;
    });
  async function* source(): AsyncIterable<Uint8Array> {
    for await (const chunk of stdout as AsyncIterable<Buffer>) {
      h.state.bytes += chunk.length;
      yield chunk;
    }
    // The stream ended: only an exit status of 0 lets the mover commit the snapshot.
    const r = await execution;
    if (r.exitCode !== 0) throw new CommandFailed(commandFailure(r.exitCode, r.message) + tailSuffix(stderr));
  }
  const m = nativePurgeMover({ repository: pvb.spec.repository, mover: 'native', access: await c.repositories.jobRepository(pvb.spec.repository, { initialize: true }) });
  try {
    await m.mover.init({ signal });
    const result = await m.mover.backup({ source: { kind: 'stream', stream: source(), fileName: spec.fileName }, identity: commandIdentity(pvb), tags: [...(pvb.spec.tags ?? [])], signal });
    return { kind: 'completed', result };
  } catch (err) {
    // The exit status before we stop the command ourselves (undefined: the mover failed first).
    const exitBefore = exited;
    stopExec.abort();
    stdout.destroy();
    await execution;
    return classify(pvb, err, exitBefore, { canceled: h.abort.signal.aborted, timedOut: timeout?.aborted === true, timeoutMs }, stderr);
  } finally {
    await m.dispose();
  }
}

async function commandSpec(c: ControllerContext, pvb: PvbObject): Promise<{ container: string; argv: readonly string[]; fileName: string } | Extract<CommandOutcome, { kind: 'failed' }>> {
  const pod = await c.cluster.getPod(pvb.spec.pod.namespace, pvb.spec.pod.name);
  const raw = pod?.metadata?.annotations?.[ANNOTATIONS.backupCommand];
  const parsed = raw === undefined ? undefined : parseCommand(raw);
  if (!pod || pod.metadata?.uid !== pvb.spec.pod.uid || !parsed?.ok) {
    return { kind: 'failed', code: 'BackupCommandFailed', reason: 'BackupCommandFailed', retriable: false, message: `${describe(pvb)} is gone: the pod was replaced or its annotation backup.ferry.dev/backup-command removed or made invalid; nothing stored` };
  }
  const v = pvb.spec.volume.command;
  return { container: v?.container ?? pvb.spec.volume.name, argv: parsed.command.argv, fileName: v?.fileName ?? `${pvb.spec.pod.name}-${pvb.spec.volume.name}` };
}

/** The CommandFailed the mover wrapped (it turns foreign errors into MoverErrors with a cause). */
function commandFailedIn(err: unknown): CommandFailed | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) if (e instanceof CommandFailed) return e;
  return undefined;
}

function commandFailure(exitCode: number, message: string | undefined): string {
  if (exitCode > 0) return `exited with code ${exitCode}`;
  return `stream cut short: ${message ?? 'no exit status'}`;
}

function classify(pvb: PvbObject, err: unknown, exitCode: number | undefined, why: { canceled: boolean; timedOut: boolean; timeoutMs: number }, stderr: OutputTail): CommandOutcome {
  if (why.canceled) return { kind: 'canceled', message: `${describe(pvb)} was canceled (spec.cancel); nothing stored` };
  if (why.timedOut) return { kind: 'failed', code: 'Timeout', reason: 'Timeout', retriable: true, message: `${describe(pvb)} exceeded the volume timeout of ${why.timeoutMs / 1000} s; nothing stored` };
  const cause = commandFailedIn(err);
  if (cause || (exitCode !== undefined && exitCode !== 0)) {
    const detail = cause?.message ?? commandFailure(exitCode ?? -1, undefined) + tailSuffix(stderr);
    return { kind: 'failed', code: 'BackupCommandFailed', reason: 'BackupCommandFailed', retriable: true, message: `${describe(pvb)} ${detail}; no snapshot was stored` };
  }
  const code = isMoverError(err) ? err.code : 'Internal';
  return { kind: 'failed', code, reason: 'MoverFailed', retriable: true, message: `storing the output of ${describe(pvb)} in BackupRepository ${pvb.spec.repository} failed (${code}): ${messageOf(err)}` };
}

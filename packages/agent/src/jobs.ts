/**
 * Runs assigned jobs: per-node concurrency, restores held until the coordinator says the
 * pod is ready for them, a per-job timeout, cancellation, throttled progress and exactly
 * one result per job (handed to `onResult`; delivery is the outbox's business).
 */
import type { Clock } from '@ferry/blobstore';
import type { Job__Output, JobKind__Output, JobPhase__Output, JobProgress, JobResult, JobStatus, MoverKind__Output } from '@ferry/api';
import type { MoverProgress } from '@ferry/mover';
import { JobAbort } from './errors.js';
import type { Executor, JobOutcome, MaintenanceResult } from './executor.js';
import { describeJob, jobSecrets, operationOf, parseJob, redact, type JobKindName, type JobSpec } from './job-spec.js';
import type { Logger } from '@ferry/log';
import type { AgentMetrics } from './metrics.js';
import { ProgressThrottle } from './progress-throttle.js';
import { classifyError, type OperationResult } from './status-codes.js';

export interface JobRunnerOptions {
  readonly maxConcurrent: number;
  readonly execute: Executor;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: AgentMetrics;
  readonly onProgress: (progress: JobProgress) => void;
  readonly onResult: (result: JobResult) => void;
  /** Minimum time between progress messages of one job; default 2000. */
  readonly progressIntervalMs?: number;
  /** How long an aborted job may take to stop before it is given up on; default 30000. */
  readonly abortGraceMs?: number;
  /** Wall-clock milliseconds for result timestamps; default Date.now. */
  readonly wallClock?: () => number;
}

/** How many file errors a result lists (the total is always given). */
export const MAX_LISTED_FILE_ERRORS = 100;
/** How many check problems a maintenance result lists, and how long each may be. */
export const MAX_LISTED_CHECK_PROBLEMS = 20;
export const MAX_CHECK_PROBLEM_LENGTH = 1024;

interface Entry {
  readonly spec: JobSpec;
  readonly controller: AbortController;
  readonly log: Logger;
  phase: JobPhase__Output;
  mayStart: () => void;
  readonly mayStartSignal: Promise<void>;
  lastProgress: JobProgress;
  readonly assignedAt: number;
}

const KIND: Record<JobKindName, JobKind__Output> = { backup: 'JOB_KIND_BACKUP', restore: 'JOB_KIND_RESTORE', maintenance: 'JOB_KIND_MAINTENANCE' };
const MOVER: Record<JobSpec['mover'], MoverKind__Output> = { native: 'MOVER_KIND_NATIVE', restic: 'MOVER_KIND_RESTIC' };

export class JobRunner {
  private readonly jobs = new Map<string, Entry>();
  /** RestoreMayStart that arrived before its Assign (messages may cross on a reconnect). */
  private readonly earlyStarts = new Set<string>();
  private readonly slotWaiters: (() => void)[] = [];
  private readonly settled = new Set<Promise<void>>();
  private runningCount = 0;
  private accepting = true;
  private readonly progressIntervalMs: number;
  private readonly wallClock: () => number;

  constructor(private readonly options: JobRunnerOptions) {
    this.progressIntervalMs = options.progressIntervalMs ?? 2000;
    this.wallClock = options.wallClock ?? Date.now;
  }

  has(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  get size(): number {
    return this.jobs.size;
  }

  get running(): number {
    return this.runningCount;
  }

  /** Starts a job. An invalid job, or any job after `stopAccepting`, gets its result at once. */
  assign(job: Job__Output): void {
    if (this.jobs.has(job.jobId)) {
      this.options.log.info('job already known; ignoring the repeated assignment', { job: job.jobId });
      return;
    }
    const started = this.wallClock();
    let spec: JobSpec;
    try {
      spec = parseJob(job);
    } catch (err) {
      this.options.log.warn('rejected an invalid job', { job: job.jobId, error: (err as Error).message });
      this.options.onResult(this.errorResult(job.jobId, job.kind, job.mover, err, undefined, started, []));
      return;
    }
    if (!this.accepting) {
      const abort = new JobAbort('interrupted', 'the agent is shutting down; assign the job again once it is back');
      this.options.onResult(this.errorResult(spec.id, KIND[spec.kind], MOVER[spec.mover], abort, abort, started, []));
      return;
    }
    this.start(spec, started);
  }

  cancel(jobId: string, reason: string): void {
    const entry = this.jobs.get(jobId);
    if (!entry) {
      this.options.log.info('cancel for a job this agent does not run', { job: jobId });
      return;
    }
    entry.log.info('canceling job', { reason });
    entry.controller.abort(new JobAbort('canceled', `canceled${reason ? `: ${reason}` : ''}`));
  }

  allowRestore(jobId: string): void {
    const entry = this.jobs.get(jobId);
    if (entry) entry.mayStart();
    else if (this.earlyStarts.size < 10_000) this.earlyStarts.add(jobId);
  }

  /** What the hello reports. */
  statuses(): JobStatus[] {
    return [...this.jobs.values()].map((e) => ({ jobId: e.spec.id, kind: KIND[e.spec.kind], phase: e.phase }));
  }

  /** The latest progress of every job, to re-send after a reconnect. */
  latestProgress(): JobProgress[] {
    return [...this.jobs.values()].map((e) => e.lastProgress);
  }

  /** New assignments are answered with an interrupted result from now on. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Aborts every job that has not finished; each reports ERROR_CODE_INTERRUPTED. */
  interruptAll(message: string): void {
    for (const entry of this.jobs.values()) entry.controller.abort(new JobAbort('interrupted', message));
  }

  /** Aborts jobs that are queued or waiting for their restore to start. */
  interruptWaiting(message: string): void {
    for (const entry of this.jobs.values()) {
      if (entry.phase !== 'JOB_PHASE_RUNNING') entry.controller.abort(new JobAbort('interrupted', message));
    }
  }

  /** Resolves once every job has delivered its result. */
  async idle(): Promise<void> {
    while (this.settled.size > 0) await Promise.all([...this.settled]);
  }

  private start(spec: JobSpec, startedWall: number): void {
    let release!: () => void;
    const mayStartSignal = new Promise<void>((resolve) => (release = resolve));
    const entry: Entry = {
      spec,
      controller: new AbortController(),
      log: this.options.log.child(describeJob(spec)),
      phase: 'JOB_PHASE_QUEUED',
      mayStart: release,
      mayStartSignal,
      lastProgress: { jobId: spec.id, phase: 'JOB_PHASE_QUEUED', filesDone: 0, bytesDone: 0 },
      assignedAt: this.options.clock.now(),
    };
    if (spec.kind === 'restore' && this.earlyStarts.delete(spec.id)) release();
    this.jobs.set(spec.id, entry);
    entry.log.info('job assigned', spec.timeoutMs ? { timeoutSeconds: spec.timeoutMs / 1000 } : {});
    const done = this.lifecycle(entry, startedWall).finally(() => {
      this.jobs.delete(spec.id);
      this.settled.delete(done);
    });
    this.settled.add(done);
  }

  private async lifecycle(entry: Entry, startedWall: number): Promise<void> {
    const { spec, controller } = entry;
    const signal = controller.signal;
    let runStarted: number | undefined;
    let outcome: JobOutcome | undefined;
    let failure: unknown;
    const throttle = new ProgressThrottle<JobProgress>(this.options.clock, this.progressIntervalMs, (p) => this.sendProgress(entry, p));
    try {
      if (spec.kind === 'restore') {
        this.setPhase(entry, 'JOB_PHASE_WAITING_FOR_RESTORE_START');
        await untilAborted(entry.mayStartSignal, signal);
        this.options.metrics.restoreStartWait.observe((this.options.clock.now() - entry.assignedAt) / 1000);
      }
      this.setPhase(entry, 'JOB_PHASE_QUEUED');
      await this.acquireSlot(signal);
      try {
        runStarted = this.options.clock.now();
        this.setPhase(entry, 'JOB_PHASE_RUNNING');
        this.options.metrics.inProgress.inc({ op: operationOf(spec) });
        outcome = await this.runWithTimeout(entry, (p) => throttle.offer(toProgressMessage(spec.id, 'JOB_PHASE_RUNNING', p)));
      } finally {
        if (runStarted !== undefined) this.options.metrics.inProgress.dec({ op: operationOf(spec) });
        this.releaseSlot();
      }
    } catch (err) {
      failure = err;
    }
    throttle.finish();
    const seconds = runStarted === undefined ? 0 : (this.options.clock.now() - runStarted) / 1000;
    this.finish(entry, outcome, failure, startedWall, seconds);
  }

  private async runWithTimeout(entry: Entry, onProgress: (p: MoverProgress) => void): Promise<JobOutcome> {
    const { spec, controller } = entry;
    const timer = new AbortController();
    if (spec.timeoutMs !== undefined) {
      const ms = spec.timeoutMs;
      this.options.clock.sleep(ms, timer.signal).then(
        () => controller.abort(new JobAbort('timeout', `the job ran longer than its timeout of ${ms / 1000} s`)),
        () => undefined,
      );
    }
    try {
      const work = this.options.execute(spec, { signal: controller.signal, onProgress, log: entry.log });
      return await this.settleOrGiveUp(work, controller.signal, entry.log);
    } finally {
      timer.abort();
    }
  }

  // A mover stops within seconds of an abort (its contract) and the job waits for that, so
  // the volume and repository are quiet before the result goes out. One that hangs is
  // given up on after abortGraceMs so the job still ends.
  private settleOrGiveUp<T>(work: Promise<T>, signal: AbortSignal, log: Logger): Promise<T> {
    const graceMs = this.options.abortGraceMs ?? 30_000;
    const stop = new AbortController();
    const giveUp = new Promise<never>((_, reject) => {
      const onAbort = (): void => {
        this.options.clock.sleep(graceMs, stop.signal).then(() => {
          log.error('the mover did not stop within the abort grace period; giving up on it', { graceSeconds: graceMs / 1000 });
          reject(signal.reason);
        }, () => undefined);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    return Promise.race([work, giveUp]).finally(() => stop.abort());
  }

  private finish(entry: Entry, outcome: JobOutcome | undefined, failure: unknown, startedWall: number, seconds: number): void {
    const { spec } = entry;
    const ns = spec.namespace;
    const op = operationOf(spec);
    let result: JobResult;
    let opResult: OperationResult;
    if (outcome?.kind === 'maintenance') {
      opResult = 'completed';
      result = this.maintenanceResult(spec, outcome.result, startedWall);
      entry.log.info('job finished', { result: opResult, seconds: round(seconds), ...maintenanceLogFields(outcome.result) });
    } else if (outcome) {
      const fileErrors = outcome.result.fileErrors;
      opResult = fileErrors.length > 0 ? 'partially_failed' : 'completed';
      if (outcome.kind === 'backup') this.options.metrics.backupFinished(ns, outcome.result.stats);
      else this.options.metrics.restoreFinished(ns, outcome.result.stats);
      this.options.metrics.fileErrors(ns, op, fileErrors.length);
      result = this.successResult(spec, outcome, startedWall);
      entry.log.info('job finished', { result: opResult, seconds: round(seconds), fileErrors: fileErrors.length, ...(outcome.kind === 'backup' ? { snapshot: outcome.result.snapshotId } : {}) });
    } else {
      const abortReason = entry.controller.signal.aborted ? entry.controller.signal.reason : undefined;
      const classified = classifyError(failure, abortReason);
      opResult = classified.result;
      result = this.errorResult(spec.id, KIND[spec.kind], MOVER[spec.mover], failure, abortReason, startedWall, jobSecrets(spec));
      entry.log.warn('job failed', { result: opResult, code: classified.code, error: result.error?.message ?? '', seconds: round(seconds) });
    }
    this.options.metrics.operationFinished(ns, op, opResult, seconds, this.wallClock());
    this.sendProgress(entry, { ...entry.lastProgress, phase: 'JOB_PHASE_FINISHED' });
    this.options.onResult(result);
  }

  private maintenanceResult(spec: JobSpec, m: MaintenanceResult, startedWall: number): JobResult {
    const secrets = jobSecrets(spec);
    const problems = m.check?.problems ?? [];
    const messages = problems.slice(0, MAX_LISTED_CHECK_PROBLEMS).map((p) => redact(p.object && !p.message.includes(p.object) ? `${p.object}: ${p.message}` : p.message, secrets).slice(0, MAX_CHECK_PROBLEM_LENGTH));
    return {
      jobId: spec.id,
      kind: 'JOB_KIND_MAINTENANCE',
      mover: MOVER[spec.mover],
      fileErrors: [],
      fileErrorsTotal: 0,
      startedAtUnixMs: startedWall,
      finishedAtUnixMs: this.wallClock(),
      maintenance: {
        operation: m.operation === 'check' ? 'MAINTENANCE_OPERATION_CHECK' : 'MAINTENANCE_OPERATION_PRUNE',
        // A check that failed without naming a problem still failed.
        errorsFound: m.check && !m.check.ok ? Math.max(1, problems.length) : 0,
        messages,
        readDataPercent: m.readDataPercent,
        bytesFreed: m.prune?.bytesFreed ?? 0,
        packsDeleted: m.prune?.packsDeleted ?? 0,
        ...(m.stats ? { repositorySizeBytes: m.stats.sizeBytes, snapshotCount: m.stats.snapshotCount } : {}),
      },
    };
  }

  private successResult(spec: JobSpec, outcome: Exclude<JobOutcome, { kind: 'maintenance' }>, startedWall: number): JobResult {
    const secrets = jobSecrets(spec);
    const errors = outcome.result.fileErrors;
    const base: JobResult = {
      jobId: spec.id,
      kind: KIND[spec.kind],
      mover: MOVER[spec.mover],
      fileErrors: errors.slice(0, MAX_LISTED_FILE_ERRORS).map((e) => ({ path: e.path, message: redact(e.message, secrets) })),
      fileErrorsTotal: errors.length,
      startedAtUnixMs: startedWall,
      finishedAtUnixMs: this.wallClock(),
    };
    if (outcome.kind === 'restore') {
      const s = outcome.result.stats;
      return { ...base, restore: { stats: { filesRestored: s.filesRestored, dirsRestored: s.dirsRestored, bytesRestored: s.bytesRestored, durationSeconds: s.durationSeconds } } };
    }
    const r = outcome.result;
    return { ...base, backup: { snapshotId: r.snapshotId, parentSnapshotId: r.parentId ?? '', stats: { ...r.stats } } };
  }

  private errorResult(jobId: string, kind: JobKind__Output, mover: MoverKind__Output, err: unknown, abortReason: unknown, startedWall: number, secrets: readonly string[]): JobResult {
    const c = classifyError(err, abortReason);
    return {
      jobId,
      kind,
      mover,
      error: { code: c.code, message: redact(c.message, secrets), retriable: c.retriable },
      fileErrors: [],
      fileErrorsTotal: 0,
      startedAtUnixMs: startedWall,
      finishedAtUnixMs: this.wallClock(),
    };
  }

  private setPhase(entry: Entry, phase: JobPhase__Output): void {
    if (entry.phase === phase && phase !== 'JOB_PHASE_QUEUED') return;
    entry.phase = phase;
    this.sendProgress(entry, { ...entry.lastProgress, phase });
  }

  private sendProgress(entry: Entry, progress: JobProgress): void {
    entry.lastProgress = progress;
    this.options.onProgress(progress);
  }

  private async acquireSlot(signal: AbortSignal): Promise<void> {
    if (this.runningCount < this.options.maxConcurrent) {
      this.runningCount++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.runningCount++;
        resolve();
      };
      const onAbort = (): void => {
        const i = this.slotWaiters.indexOf(grant);
        if (i >= 0) this.slotWaiters.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.slotWaiters.push(grant);
    });
  }

  private releaseSlot(): void {
    this.runningCount--;
    this.slotWaiters.shift()?.();
  }
}

function toProgressMessage(jobId: string, phase: JobPhase__Output, p: MoverProgress): JobProgress {
  return {
    jobId,
    phase,
    filesDone: p.filesDone,
    ...(p.filesTotal !== undefined ? { filesTotal: p.filesTotal } : {}),
    bytesDone: p.bytesDone,
    ...(p.bytesTotal !== undefined ? { bytesTotal: p.bytesTotal } : {}),
    bytesPerSecond: p.bytesPerSecond ?? 0,
    ...(p.etaSeconds !== undefined && Number.isFinite(p.etaSeconds) ? { etaSeconds: Math.max(0, Math.round(p.etaSeconds)) } : {}),
  };
}

/** `work`, or a rejection with the signal's reason as soon as it fires. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function maintenanceLogFields(m: MaintenanceResult): Record<string, number | string | boolean> {
  const stats: Record<string, number> = m.stats ? { sizeBytes: m.stats.sizeBytes, snapshots: m.stats.snapshotCount } : {};
  if (m.check) return { ok: m.check.ok, problems: m.check.problems.length, readDataPercent: m.readDataPercent, ...stats };
  return { bytesFreed: m.prune?.bytesFreed ?? 0, packsDeleted: m.prune?.packsDeleted ?? 0, ...stats };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

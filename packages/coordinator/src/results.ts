/**
 * Agent traffic into the API: results are applied idempotently by job id (a re-delivered
 * or stale result changes nothing and is still acknowledged) and progress is written at
 * most every progressIntervalMs per job, always the latest values.
 */
import type { JobProgress__Output, JobResult__Output } from '@ferry/api';
import type { ControllerContext } from './context.js';
import { objectKey } from './context.js';
import { statusFromBackupResult, statusFromProgress } from './controllers/pod-volume-backup.js';
import { statusFromRestoreResult } from './controllers/pod-volume-restore.js';
import { commit, retryOnConflict } from './controllers/commit.js';
import { isConflict, messageOf } from './errors.js';
import { jobIdOf, parseJobId } from './jobs.js';
import type { FerryKind } from './cluster/cluster-state.js';
import type { PvbObject, PvrObject } from './objects.js';
import { recordJobResult, recordJobStart } from './operation-logs/record.js';

export interface ObjectRef {
  readonly kind: 'PodVolumeBackup' | 'PodVolumeRestore';
  readonly namespace: string;
  readonly name: string;
}

export interface JobTrafficOptions {
  readonly ctx: ControllerContext;
  /** Finds a PodVolumeBackup/Restore by uid (from the informer caches); waits for them to sync. */
  readonly lookup: (uid: string) => Promise<ObjectRef | undefined>;
}

export class JobTraffic {
  private readonly latest = new Map<string, JobProgress__Output>();
  private readonly lastWrite = new Map<string, number>();
  private readonly scheduled = new Set<string>();
  /** Jobs whose start is in the operation log already (bounded: cleared with their result). */
  private readonly started = new Set<string>();

  constructor(private readonly o: JobTrafficOptions) {}

  /** `node`: the agent that reported it (for the operation log). */
  async applyResult(result: JobResult__Output, node = ''): Promise<void> {
    const c = this.o.ctx;
    this.latest.delete(result.jobId);
    this.started.delete(result.jobId);
    const ref = await this.find(result.jobId);
    if (!ref) return; // the object is gone (its Backup/Restore was deleted): nothing to store
    c.metrics.resultsStored.inc({ kind: result.kind === 'JOB_KIND_RESTORE' ? 'PodVolumeRestore' : 'PodVolumeBackup' });
    await retryOnConflict(async () => {
      const obj = await c.cluster.get<PvbObject | PvrObject>(ref.kind, ref.namespace, ref.name);
      if (!obj) return;
      recordJobResult(c, ref.kind, obj, node, result);
      const status = ref.kind === 'PodVolumeBackup' ? statusFromBackupResult(c, obj as PvbObject, result) : statusFromRestoreResult(c, obj as PvrObject, result);
      if (status) await commit(c, ref.kind as FerryKind, obj as PvbObject, { status: status as PvbObject['status'] & object });
    });
    c.enqueue(objectKey(ref.kind, ref.namespace, ref.name));
  }

  onProgress(progress: JobProgress__Output, node = ''): void {
    const id = progress.jobId;
    if (progress.phase === 'JOB_PHASE_RUNNING' && !this.started.has(id)) {
      this.started.add(id);
      void this.recordStart(id, node);
    }
    this.latest.set(id, progress);
    if (this.scheduled.has(id)) return;
    const wait = Math.max(0, (this.lastWrite.get(id) ?? 0) + this.o.ctx.settings.progressIntervalMs - this.o.ctx.clock.now());
    const first = !this.lastWrite.has(id) && progress.phase === 'JOB_PHASE_RUNNING';
    this.scheduled.add(id);
    void this.o.ctx.clock.sleep(first ? 0 : wait).then(() => this.flush(id));
  }

  private async flush(jobId: string): Promise<void> {
    this.scheduled.delete(jobId);
    const progress = this.latest.get(jobId);
    if (!progress) return;
    this.latest.delete(jobId);
    this.lastWrite.set(jobId, this.o.ctx.clock.now());
    try {
      await this.writeProgress(jobId, progress);
    } catch (err) {
      if (!isConflict(err)) this.o.ctx.log.warn('writing progress failed', { jobId, error: messageOf(err) });
    }
  }

  private async writeProgress(jobId: string, progress: JobProgress__Output): Promise<void> {
    const c = this.o.ctx;
    const ref = await this.find(jobId);
    if (!ref) return;
    const obj = await c.cluster.get<PvbObject | PvrObject>(ref.kind, ref.namespace, ref.name);
    const status = obj?.status;
    if (!obj || !status || status.phase !== 'InProgress' || jobIdOf(obj.metadata.uid ?? '', status.attempt ?? 1) !== jobId) return;
    await commit(c, ref.kind, obj as PvbObject, { status: statusFromProgress(c, status as PvbObject['status'] & object, progress) });
    if (ref.kind === 'PodVolumeBackup') {
      const backup = (obj as PvbObject).spec.backup;
      c.enqueue(objectKey('Backup', ref.namespace, backup));
    } else {
      c.enqueue(objectKey('Restore', ref.namespace, (obj as PvrObject).spec.restore));
    }
  }

  private async recordStart(jobId: string, node: string): Promise<void> {
    const ref = await this.find(jobId);
    const obj = ref && (await this.o.ctx.cluster.get<PvbObject | PvrObject>(ref.kind, ref.namespace, ref.name).catch(() => undefined));
    if (ref && obj) recordJobStart(this.o.ctx, ref.kind, obj, node, jobId);
  }

  private async find(jobId: string): Promise<ObjectRef | undefined> {
    const parsed = parseJobId(jobId);
    return parsed ? this.o.lookup(parsed.uid) : undefined;
  }
}

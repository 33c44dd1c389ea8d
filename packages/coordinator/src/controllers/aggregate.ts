/** Sums of volumes (PodVolumeBackups or PodVolumeRestores) into a Backup's or Restore's counts, progress and phase. */
import { isTerminalPhase, type V1alpha1Progress, type V1alpha1VolumeCounts } from '@ferry/api';

export interface VolumeLike {
  readonly phase: string | undefined;
  readonly progress?: V1alpha1Progress | undefined;
  readonly fileErrorsTotal?: number | undefined;
}

export interface Aggregate {
  readonly counts: V1alpha1VolumeCounts;
  readonly progress: V1alpha1Progress;
  readonly fileErrorsTotal: number;
  readonly allTerminal: boolean;
  /** The terminal phase when allTerminal. */
  readonly finalPhase: 'Completed' | 'PartiallyFailed' | 'Failed' | 'Canceled';
}

export function aggregate(volumes: readonly VolumeLike[], skipped: number, canceledRequest: boolean, now: string): Aggregate {
  const counts: V1alpha1VolumeCounts = { total: volumes.length, new: 0, inProgress: 0, completed: 0, partiallyFailed: 0, failed: 0, canceled: 0, skipped };
  let bytesDone = 0;
  let filesDone = 0;
  let totalBytes = 0;
  let totalFiles = 0;
  let totalsKnown = true;
  let fileErrorsTotal = 0;
  for (const v of volumes) {
    countPhase(counts, v.phase);
    bytesDone += v.progress?.bytesDone ?? 0;
    filesDone += v.progress?.filesDone ?? 0;
    if (v.progress?.totalBytes === undefined) totalsKnown = false;
    totalBytes += v.progress?.totalBytes ?? 0;
    totalFiles += v.progress?.totalFiles ?? v.progress?.filesDone ?? 0;
    fileErrorsTotal += v.fileErrorsTotal ?? 0;
  }
  const progress: V1alpha1Progress = { bytesDone, filesDone, ...(totalsKnown ? { totalBytes, totalFiles } : {}), updatedAt: now };
  const allTerminal = volumes.every((v) => isTerminalPhase(v.phase));
  return { counts, progress, fileErrorsTotal, allTerminal, finalPhase: finalPhase(counts, canceledRequest) };
}

function countPhase(counts: V1alpha1VolumeCounts, phase: string | undefined): void {
  switch (phase) {
    case 'Completed': counts.completed++; break;
    case 'PartiallyFailed': counts.partiallyFailed++; break;
    case 'Failed': counts.failed++; break;
    case 'Canceled': counts.canceled++; break;
    case 'InProgress': counts.inProgress++; break;
    default: counts.new++;
  }
}

function finalPhase(c: V1alpha1VolumeCounts, canceledRequest: boolean): Aggregate['finalPhase'] {
  if (canceledRequest && c.canceled > 0) return 'Canceled';
  if (c.total === 0) return 'Completed';
  if (c.completed === c.total) return 'Completed';
  if (c.failed + c.canceled === c.total) return 'Failed';
  return 'PartiallyFailed';
}

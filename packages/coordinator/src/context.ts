/** What every controller needs, built once by the Coordinator and passed in. */
import type { HelperPods } from './helpers/helper-pods.js';
import type { HelperPodConfig } from './helpers/helper-settings.js';
import type { VolumeSnapshots } from './helpers/volume-snapshots.js';
import type { TargetClaims } from './claims/target-claims.js';
import type { Clock } from './clock.js';
import type { AgentHub } from './hub.js';
import type { ClusterState } from './cluster/cluster-state.js';
import type { Logger } from '@ferry/log';
import { IMPORTED_LABEL, RESTORED_POD_LABEL } from './cluster/labels.js';
import type { CoordinatorMetrics } from './metrics.js';
import type { OperationLogBook } from './operation-logs/book.js';
import type { PurgeMoverFactory } from './purge.js';
import type { Repositories } from './repositories.js';

export interface ControllerSettings {
  /** The coordinator's namespace (repositories, the cluster key, the Lease). */
  readonly namespace: string;
  /** How long a volume waits for its node's agent before failing with AgentUnavailable. */
  readonly agentWaitMs: number;
  /** How long a running job's agent may stay disconnected before the volume fails with AgentLost. */
  readonly agentLostMs: number;
  /** Progress is written to status at most this often per volume. */
  readonly progressIntervalMs: number;
  /** Assignments per volume (the first plus retries after an interrupted agent). */
  readonly maxAttempts: number;
  /** How often every BackupLocation is probed again (it is also probed after each spec change). */
  readonly locationValidationMs: number;
  /** Snapshot mode: how long a VolumeSnapshot may take to become readyToUse (SnapshotNotReady after). Default 10 min. */
  readonly snapshotReadyMs?: number;
  /** The restore-wait init container. */
  readonly restoreWait: { readonly image: string; readonly command: readonly string[] };
  /** Helper pods for claims no pod mounts (docs/helper-pods.md). */
  readonly helperPods: HelperPodConfig;
}

export interface ControllerContext {
  readonly cluster: ClusterState;
  readonly hub: AgentHub;
  readonly clock: Clock;
  readonly log: Logger;
  readonly repositories: Repositories;
  /** Opens a repository to forget a deleted Backup's snapshots (spec.purgeOnDelete). */
  readonly purgeMovers: PurgeMoverFactory;
  readonly metrics: CoordinatorMetrics;
  readonly settings: ControllerSettings;
  /** Queue `Kind/namespace/name` for reconciling. */
  readonly enqueue: (key: string, afterMs?: number) => void;
  /** When this coordinator became leader: the fallback "last seen" of agents it never saw. */
  readonly startedAt: number;
  /** Helper pods for volumes no pod mounts (docs/helper-pods.md); absent in standalone mode. */
  readonly helperPods?: HelperPods;
  /** CSI VolumeSnapshots and the claims provisioned from them (snapshot mode); absent in standalone mode. */
  readonly volumeSnapshots?: VolumeSnapshots;
  /** Running operations' log lines until their log is stored at the location (docs/operation-logs.md); absent: none kept. */
  readonly operationLogs?: OperationLogBook;
  /** Creates the claims of Restore.spec.targetClaims; absent in standalone mode. */
  readonly targetClaims?: TargetClaims;
}

export const LABELS = {
  backup: 'ferry.dev/backup',
  restore: 'ferry.dev/restore',
  /** On Backups a BackupSchedule created: the schedule's name (ListBackups filters by it). */
  schedule: 'ferry.dev/schedule',
  podUid: 'ferry.dev/pod-uid',
  /** `true` on Backups and PodVolumeBackups made by ImportBackup: already complete, never run here. */
  imported: IMPORTED_LABEL,
  /** On pods adopted by the webhook: the Restore they belong to. */
  restoredBy: RESTORED_POD_LABEL,
} as const;

export const ANNOTATIONS_OUT = {
  /** On adopted pods: JSON object pod volume name → restore item key. */
  restoreVolumes: 'restore.ferry.dev/volumes',
  restoreUid: 'restore.ferry.dev/restore-uid',
  restoreNamespace: 'restore.ferry.dev/restore-namespace',
} as const;

export const BACKUP_FINALIZER = 'ferry.dev/backup-cleanup';
export const RESTORE_WAIT_CONTAINER = 'ferry-restore-wait';

export function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

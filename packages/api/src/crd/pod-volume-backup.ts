import {
  AgentRefSchema,
  conditions,
  duration,
  ErrorInfoSchema,
  excludePaths,
  fileErrorsTotal,
  mover,
  objectName,
  OPERATION_PHASES,
  PodRefSchema,
  ProgressSchema,
  snapshotId,
  SNAPSHOT_MODES,
  tags,
  VolumeRefSchema,
} from './common.js';
import { EXCLUDE_PATH_LIMITS } from '../annotations/exclude-paths.js';
import { AGE_COLUMN, type CrdDefinition, type Resource } from './definition.js';
import { bool, int32, int64, obj, oneOf, opt, str, time, type Infer } from './schema.js';

export const PodVolumeBackupSpecSchema = obj('One pod volume to back up. Created by the coordinator, owned by its Backup.', {
  backup: objectName('Name of the Backup (same namespace) this volume belongs to.'),
  pod: PodRefSchema,
  node: str('Node the pod runs on; the agent there does the work.', { maxLength: 253 }),
  volume: VolumeRefSchema,
  repository: objectName("Name of the BackupRepository (in the coordinator's namespace)."),
  mover: mover('Mover that writes the snapshot.'),
  parentSnapshotId: opt(snapshotId('Snapshot to compare against: the latest of the same PVC (by uid), else of the same pod and volume. Absent: a full backup.')),
  tags: tags('Tags on the snapshot.'),
  excludes: excludePaths("Path globs not backed up inside the volume: the Backup's spec.excludes and the pod's backup.ferry.dev/exclude-paths (each at most 100).", 2 * EXCLUDE_PATH_LIMITS.maxItems),
  timeout: opt(duration('Time limit for this volume; exceeding it fails this volume only.')),
  cancel: opt(bool('Set to true to cancel this volume.')),
  snapshotMode: opt(oneOf('Auto or Always: the claim is copied from a CSI VolumeSnapshot through a helper pod (status.volumeSnapshot); absent or Never: the mounted volume is read live.', SNAPSHOT_MODES)),
  volumeSnapshotClass: opt(objectName("The Backup's spec.volumeSnapshotClass: used when it belongs to the claim's CSI driver.")),
});
export type PodVolumeBackupSpec = Infer<typeof PodVolumeBackupSpecSchema>;

export const POD_VOLUME_BACKUP_PHASES = [...OPERATION_PHASES, 'WaitingForAgent'] as const;
export type PodVolumeBackupPhase = (typeof POD_VOLUME_BACKUP_PHASES)[number];

export const BackupStatsSchema = obj('What the mover reported for the finished snapshot.', {
  filesNew: int64('Files not in the parent snapshot.', { minimum: 0 }),
  filesChanged: int64('Files changed since the parent.', { minimum: 0 }),
  filesUnmodified: int64('Files unchanged since the parent (not read again).', { minimum: 0 }),
  bytesAdded: int64('Bytes newly stored in the repository (after dedup, before compression).', { minimum: 0 }),
  bytesDeduplicated: opt(int64('Bytes found already stored.', { minimum: 0 })),
});
export type BackupStats = Infer<typeof BackupStatsSchema>;

export const VolumeSnapshotStatusSchema = obj('Snapshot mode: the CSI VolumeSnapshot the volume was copied from, and the claim and helper pod that read it. The snapshot, claim and pod are deleted once the volume ended (cleanedUp).', {
  name: objectName("Name of the VolumeSnapshot (in the claim's namespace)."),
  className: opt(objectName('The VolumeSnapshotClass it was taken with.')),
  uid: opt(str('UID of the VolumeSnapshot.', { maxLength: 64 })),
  creationTime: opt(time("When the storage cut the snapshot (its status.creationTime): the moment the copy shows.")),
  readyTimestamp: opt(time('When it became readyToUse.')),
  restoreSize: opt(str('Its status.restoreSize.', { maxLength: 64 })),
  claim: opt(objectName('The PVC provisioned from it (dataSource VolumeSnapshot) that the helper pod mounts read-only.')),
  volumeName: opt(objectName('The PersistentVolume bound to that claim; the agent reads its directory.')),
  helperPod: opt(obj('The helper pod that mounts the claim; the agent of its node reads the volume.', {
    name: objectName('Name of the helper pod.'),
    uid: str('UID of the helper pod.', { maxLength: 64 }),
    node: str('Node it runs on.', { maxLength: 253 }),
  })),
  cleanedUp: opt(time('When the snapshot, its claim and the helper pod were deleted.')),
});
export type VolumeSnapshotStatus = Infer<typeof VolumeSnapshotStatusSchema>;

export const PodVolumeBackupStatusSchema = obj('Observed state of the volume backup.', {
  phase: opt(oneOf('Where the volume is. WaitingForAgent: no agent connected for the node yet.', POD_VOLUME_BACKUP_PHASES)),
  conditions: conditions(),
  observedGeneration: opt(int64('metadata.generation the status was computed from.', { minimum: 0 })),
  agent: opt(AgentRefSchema),
  attempt: opt(int32('How many times the job was assigned (re-assigned after an agent restart).', { minimum: 0 })),
  startTimestamp: opt(time('When the agent started.')),
  completionTimestamp: opt(time('When the volume reached a terminal phase.')),
  progress: opt(ProgressSchema),
  snapshotId: opt(snapshotId('The snapshot written.')),
  parentSnapshotId: opt(snapshotId('The parent the mover actually used.')),
  snapshotForgotten: opt(time('When the coordinator forgot snapshotId from the repository (schedule retention or ForgetSnapshots): this volume can no longer be restored, and a Restore of it is refused (SnapshotForgotten).')),
  stats: opt(BackupStatsSchema),
  fileErrorsTotal: fileErrorsTotal(),
  error: opt(ErrorInfoSchema),
  volumeSnapshot: opt(VolumeSnapshotStatusSchema),
});
export type PodVolumeBackupStatus = Infer<typeof PodVolumeBackupStatusSchema>;

export type PodVolumeBackup = Resource<'PodVolumeBackup', PodVolumeBackupSpec, PodVolumeBackupStatus>;

export const POD_VOLUME_BACKUP_CRD: CrdDefinition = {
  kind: 'PodVolumeBackup',
  plural: 'podvolumebackups',
  singular: 'podvolumebackup',
  shortNames: ['fpvb'],
  scope: 'Namespaced',
  description: "The backup of one pod volume by the agent on the pod's node. Created by the coordinator, owned by a Backup.",
  spec: PodVolumeBackupSpecSchema,
  status: PodVolumeBackupStatusSchema,
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Where the volume is.' },
    { name: 'Pod-Namespace', type: 'string', jsonPath: '.spec.pod.namespace', description: 'Namespace of the pod.' },
    { name: 'Pod', type: 'string', jsonPath: '.spec.pod.name', description: 'Pod.' },
    { name: 'Volume', type: 'string', jsonPath: '.spec.volume.name', description: 'Volume.' },
    { name: 'Bytes', type: 'integer', jsonPath: '.status.progress.bytesDone', description: 'Bytes read so far.' },
    { name: 'Total-Bytes', type: 'integer', jsonPath: '.status.progress.totalBytes', description: 'Bytes expected.' },
    { name: 'Node', type: 'string', jsonPath: '.spec.node', description: 'Node.', priority: 1 },
    { name: 'Kind', type: 'string', jsonPath: '.spec.volume.kind', description: 'Volume source.', priority: 1 },
    { name: 'Snapshot', type: 'string', jsonPath: '.status.snapshotId', description: 'Snapshot written.', priority: 1 },
    { name: 'Backup', type: 'string', jsonPath: '.spec.backup', description: 'Owning Backup.', priority: 1 },
    AGE_COLUMN,
  ],
};

import {
  AgentRefSchema,
  conditions,
  dnsLabel,
  duration,
  ErrorInfoSchema,
  fileErrorsTotal,
  mover,
  objectName,
  OPERATION_PHASES,
  PodRefSchema,
  ProgressSchema,
  snapshotId,
  VolumeRefSchema,
} from './common.js';
import { AGE_COLUMN, type CrdDefinition, type Resource } from './definition.js';
import { bool, describe, int32, int64, obj, oneOf, opt, str, time, type Infer } from './schema.js';

export const PodVolumeRestoreSpecSchema = obj('One pod volume to restore. Created by the coordinator once the pod is scheduled, owned by its Restore.', {
  restore: objectName('Name of the Restore (same namespace).'),
  pod: PodRefSchema,
  node: str('Node the pod was scheduled to; the agent there writes the data.', { maxLength: 253 }),
  target: describe(VolumeRefSchema, 'The volume of the pod to restore into.'),
  snapshotId: snapshotId('The snapshot to restore.'),
  repository: objectName("Name of the BackupRepository (in the coordinator's namespace)."),
  mover: mover('Mover that reads the snapshot.'),
  source: opt(
    obj('Where the snapshot came from (for humans and tools; not used to restore).', {
      podVolumeBackup: opt(objectName('The PodVolumeBackup that wrote the snapshot.')),
      namespace: dnsLabel('Source namespace.'),
      pod: opt(objectName('Source pod.')),
      volume: dnsLabel('Source volume name.'),
    }),
  ),
  timeout: opt(duration('Time limit once the pod runs restore-wait; exceeding it fails this volume only.')),
  cancel: opt(bool('Set to true to cancel this volume.')),
});
export type PodVolumeRestoreSpec = Infer<typeof PodVolumeRestoreSpecSchema>;

export const POD_VOLUME_RESTORE_PHASES = [...OPERATION_PHASES, 'WaitingForPod', 'WaitingForAgent'] as const;
export type PodVolumeRestorePhase = (typeof POD_VOLUME_RESTORE_PHASES)[number];

export const RestoreStatsSchema = obj('What the mover reported for the finished restore.', {
  filesRestored: int64('Files written.', { minimum: 0 }),
  bytesRestored: int64('Bytes written.', { minimum: 0 }),
});
export type RestoreStats = Infer<typeof RestoreStatsSchema>;

export const PodVolumeRestoreStatusSchema = obj('Observed state of the volume restore.', {
  phase: opt(oneOf('Where the volume is. WaitingForPod: the pod has not started restore-wait yet; WaitingForAgent: no agent connected for the node yet.', POD_VOLUME_RESTORE_PHASES)),
  conditions: conditions(),
  observedGeneration: opt(int64('metadata.generation the status was computed from.', { minimum: 0 })),
  agent: opt(AgentRefSchema),
  attempt: opt(int32('How many times the job was assigned.', { minimum: 0 })),
  startTimestamp: opt(time('When the agent started writing.')),
  completionTimestamp: opt(time('When the volume reached a terminal phase.')),
  progress: opt(ProgressSchema),
  stats: opt(RestoreStatsSchema),
  markerWritten: opt(bool('The done-marker .ferry/<restore uid> was written, so restore-wait may let the pod start.')),
  fileErrorsTotal: fileErrorsTotal(),
  error: opt(ErrorInfoSchema),
});
export type PodVolumeRestoreStatus = Infer<typeof PodVolumeRestoreStatusSchema>;

export type PodVolumeRestore = Resource<'PodVolumeRestore', PodVolumeRestoreSpec, PodVolumeRestoreStatus>;

export const POD_VOLUME_RESTORE_CRD: CrdDefinition = {
  kind: 'PodVolumeRestore',
  plural: 'podvolumerestores',
  singular: 'podvolumerestore',
  shortNames: ['fpvr'],
  scope: 'Namespaced',
  description: "The restore of one snapshot into one pod volume by the agent on the pod's node. Created by the coordinator, owned by a Restore.",
  spec: PodVolumeRestoreSpecSchema,
  status: PodVolumeRestoreStatusSchema,
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Where the volume is.' },
    { name: 'Pod-Namespace', type: 'string', jsonPath: '.spec.pod.namespace', description: 'Namespace of the pod.' },
    { name: 'Pod', type: 'string', jsonPath: '.spec.pod.name', description: 'Pod.' },
    { name: 'Volume', type: 'string', jsonPath: '.spec.target.name', description: 'Volume.' },
    { name: 'Bytes', type: 'integer', jsonPath: '.status.progress.bytesDone', description: 'Bytes written so far.' },
    { name: 'Total-Bytes', type: 'integer', jsonPath: '.status.progress.totalBytes', description: 'Bytes expected.' },
    { name: 'Node', type: 'string', jsonPath: '.spec.node', description: 'Node.', priority: 1 },
    { name: 'Snapshot', type: 'string', jsonPath: '.spec.snapshotId', description: 'Snapshot restored.', priority: 1 },
    { name: 'Restore', type: 'string', jsonPath: '.spec.restore', description: 'Owning Restore.', priority: 1 },
    AGE_COLUMN,
  ],
};

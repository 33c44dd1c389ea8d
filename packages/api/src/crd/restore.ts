import {
  conditions,
  dnsLabel,
  duration,
  ErrorInfoSchema,
  fileErrorsTotal,
  LabelSelectorSchema,
  mover,
  objectName,
  OPERATION_PHASES,
  ProgressSchema,
  snapshotId,
  VolumeCountsSchema,
} from './common.js';
import { AGE_COLUMN, type CrdDefinition, type Resource } from './definition.js';
import { arr, bool, int32, int64, map, obj, oneOf, opt, str, time, type Infer } from './schema.js';

export const RESTORE_DEFAULTS = {
  podWaitTimeout: '24h',
  volumeTimeout: '4h',
  hooks: 'Run',
} as const;

export const RESTORE_HOOKS_MODES = ['Run', 'Skip'] as const;

export const RestoreSnapshotSchema = obj('One snapshot to restore and the pod volume it belongs to.', {
  snapshotId: snapshotId('The snapshot.'),
  location: objectName('BackupLocation holding the repository.'),
  namespace: dnsLabel('Source namespace (selects the repository, and is mapped through namespaceMapping).'),
  volume: dnsLabel('Volume name the data belongs to.'),
  claimName: opt(objectName('For PVC volumes: the claim name a recreated pod must use.')),
  pod: opt(objectName('Source pod name (for matching pods of a StatefulSet, whose names are stable).')),
  controller: opt(
    obj('Controller owner of the source pod; recreated pods with the same owner match non-PVC volumes.', {
      kind: str('Owner kind.', { maxLength: 63 }),
      name: objectName('Owner name.'),
    }),
  ),
  mover: opt(mover('Repository format. Default: the repository\'s.')),
});
export type RestoreSnapshot = Infer<typeof RestoreSnapshotSchema>;

export const RestoreLatestSchema = obj(
  'Restore the newest Completed Backup of this namespace that matches, resolved once when the Restore starts and recorded in status.backupName. Backups are ordered by status.startTimestamp (the point in time their data shows). `latest: {}` is the newest Completed Backup.',
  {
    schedule: opt(objectName('Only Backups this BackupSchedule (in the same namespace) created.')),
    asOf: opt(time('Only Backups started at or before this time (RFC 3339).')),
    previous: opt(int32('Skip this many newer matches: 0 is the newest, 1 the one before it. Default 0.', { minimum: 0, maximum: 10000 })),
  },
);
export type RestoreLatest = Infer<typeof RestoreLatestSchema>;

export const RestoreSpecSchema = obj(
  'What to restore and where. Exactly one of backupName, latest and snapshots is set. The pods are then created by you (or Helm, GitOps, a controller); matching pods are held by restore-wait until their data is back.',
  {
    backupName: opt(objectName('A Backup in this namespace to restore (Completed or PartiallyFailed).')),
    latest: opt(RestoreLatestSchema),
    snapshots: opt(arr('Explicit snapshots to restore instead of a Backup.', RestoreSnapshotSchema, { minItems: 1, maxItems: 1000 })),
    namespaceMapping: opt(map('Source namespace → target namespace. Unmapped namespaces restore into themselves. Only a Restore in the coordinator\'s namespace may target another namespace than its own.', dnsLabel('Target namespace.'), { maxProperties: 1000 })),
    selection: opt(
      obj('Restrict what is restored. Absent: everything in the backup.', {
        namespaces: opt(arr('Source namespaces to restore.', dnsLabel('A namespace.'), { maxItems: 1000, listType: 'set' })),
        labelSelector: opt(LabelSelectorSchema),
        volumes: opt(arr('Volume names to restore.', dnsLabel('A volume name.'), { maxItems: 256, listType: 'set' })),
      }),
    ),
    podWaitTimeout: opt(duration('How long to wait for matching pods to be created. Volumes whose pod never came are counted failed (reason PodNotFound). Default 24h.', RESTORE_DEFAULTS.podWaitTimeout)),
    volumeTimeout: opt(duration('Per-volume time limit once the pod runs restore-wait. Default 4h.', RESTORE_DEFAULTS.volumeTimeout)),
    cancel: opt(bool('Set to true to cancel; restore-wait in pods already held exits non-zero so the pod restarts without restored data.')),
    hooks: opt(oneOf('Run (default): once a restored pod\'s volumes are back, run the restore hook it declares (post.hook.restore.ferry.dev/command). Skip: run no restore hooks (data only); read when a pod\'s PodVolumeRestores are created.', RESTORE_HOOKS_MODES)),
  },
  { exactlyOneOf: [['backupName'], ['latest'], ['snapshots']] },
);
export type RestoreSpec = Infer<typeof RestoreSpecSchema>;

export const RestoreStatusSchema = obj('Observed state of the Restore, aggregated over its PodVolumeRestores.', {
  backupName: opt(objectName('The Backup restored: spec.backupName, or the one spec.latest resolved to when the Restore started.')),
  phase: opt(oneOf('Where the Restore is. InProgress includes waiting for pods to be created.', OPERATION_PHASES)),
  conditions: conditions(),
  observedGeneration: opt(int64('metadata.generation the status was computed from.', { minimum: 0 })),
  startTimestamp: opt(time('When the Restore was accepted.')),
  completionTimestamp: opt(time('When the Restore reached a terminal phase.')),
  progress: opt(ProgressSchema),
  counts: opt(VolumeCountsSchema),
  fileErrorsTotal: fileErrorsTotal(),
  error: opt(ErrorInfoSchema),
});
export type RestoreStatus = Infer<typeof RestoreStatusSchema>;

export type Restore = Resource<'Restore', RestoreSpec, RestoreStatus>;

export const RESTORE_CRD: CrdDefinition = {
  kind: 'Restore',
  plural: 'restores',
  singular: 'restore',
  shortNames: ['fr'],
  scope: 'Namespaced',
  description: 'A restore of a Backup (or of explicit snapshots) into pods as they are created.',
  spec: RestoreSpecSchema,
  status: RestoreStatusSchema,
  printerColumns: [
    { name: 'Backup', type: 'string', jsonPath: '.status.backupName', description: 'Backup restored (spec.latest resolved).' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Where the Restore is.' },
    { name: 'Volumes', type: 'integer', jsonPath: '.status.counts.total', description: 'Volumes to restore.' },
    { name: 'Waiting', type: 'integer', jsonPath: '.status.counts.new', description: 'Volumes whose pod is not there yet.' },
    { name: 'Completed', type: 'integer', jsonPath: '.status.counts.completed', description: 'Volumes restored.' },
    { name: 'Failed', type: 'integer', jsonPath: '.status.counts.failed', description: 'Volumes failed.' },
    { name: 'Bytes', type: 'integer', jsonPath: '.status.progress.bytesDone', description: 'Bytes written so far.' },
    { name: 'Total-Bytes', type: 'integer', jsonPath: '.status.progress.totalBytes', description: 'Bytes expected.', priority: 1 },
    AGE_COLUMN,
  ],
};

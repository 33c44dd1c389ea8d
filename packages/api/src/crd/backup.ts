import {
  conditions,
  DNS1123_LABEL_PATTERN,
  dnsLabel,
  duration,
  ErrorInfoSchema,
  excludePaths,
  fileErrorsTotal,
  LabelSelectorSchema,
  mover,
  objectName,
  OPERATION_PHASES,
  ProgressSchema,
  REASON_PATTERN,
  SNAPSHOT_MODES,
  tags,
  VolumeCountsSchema,
} from './common.js';
import { AGE_COLUMN, type CrdDefinition, type Resource } from './definition.js';
import { arr, bool, int64, obj, oneOf, opt, str, time, type Infer } from './schema.js';

/** Defaults of absent fields: the CRD schema defaults ttl and volumeTimeout on the server, the coordinator applies all of them again (the fake API server does not default). mover is not defaulted by the server: absent means "an existing repository keeps its own". */
export const BACKUP_DEFAULTS = {
  ttl: '720h',
  volumeTimeout: '4h',
  mover: 'native',
} as const;

/** A volume name, or `*` for "every volume that can be backed up". */
export const VOLUME_SELECTOR_PATTERN = `^(\\*|${DNS1123_LABEL_PATTERN.slice(1, -1)})$`;

export const BackupSpecSchema = obj('What to back up and how.', {
  namespaces: opt(
    arr(
      "Namespaces to back up. Default: the Backup's own namespace. Only a Backup in the coordinator's namespace may name other namespaces.",
      dnsLabel('A namespace.'),
      { maxItems: 1000, listType: 'set' },
    ),
  ),
  labelSelector: opt(LabelSelectorSchema),
  pods: opt(
    arr(
      "Back up only these pods of the Backup's own namespace, chosen by name (labelSelector still applies). A pod's listed volumes are backed up instead of what its annotations select; excludeVolumes and exclusion annotations still win. A listed pod that does not exist is reported in skippedVolumes (PodNotFound).",
      obj('A pod and, optionally, which of its volumes to back up.', {
        name: objectName('Name of the pod.'),
        volumes: opt(arr('Volumes of the pod to back up. Absent: every volume that can be backed up.', dnsLabel('A volume name.'), { maxItems: 256, listType: 'set' })),
      }),
      { maxItems: 1000 },
    ),
  ),
  includeVolumes: opt(
    arr(
      'Volume names to back up in every selected pod, in addition to each pod\'s backup.ferry.dev/backup-volumes annotation. "*" selects every volume that can be backed up (opt-out mode).',
      str('A volume name or *.', { pattern: VOLUME_SELECTOR_PATTERN, maxLength: 63 }),
      { maxItems: 256, listType: 'set' },
    ),
  ),
  excludeVolumes: opt(arr('Volume names never backed up by this Backup; wins over every include.', dnsLabel('A volume name.'), { maxItems: 256, listType: 'set' })),
  excludes: excludePaths(
    'Path globs inside every backed-up volume that are not backed up, added to each pod\'s backup.ferry.dev/exclude-paths: without "/" a pattern matches a name at any depth, with "/" it is anchored at the volume root; * and ? stay within a name, ** crosses directories. A matched directory is skipped whole. Both movers read them the same way.',
  ),
  includeUnmountedClaims: opt(bool('Also back up the bound PVCs of the selected namespaces that no pod mounts, each through a short-lived helper pod (docs/helper-pods.md); spec.labelSelector and spec.pods do not apply to them, excludeVolumes does not either. A claim whose helper pod fails is reported in skippedVolumes with the reason (Unschedulable, ProvisioningFailed, HelperPodTimeout, HelperPodFailed).')),
  snapshotMode: opt(oneOf('Whether a CSI claim is copied from a VolumeSnapshot instead of live (docs/helper-pods.md, snapshot mode): Never (default) reads the mounted volume while the pod writes to it; Auto snapshots a claim whose CSI driver has a VolumeSnapshotClass and copies the others live; Always snapshots every claim and fails the volume (SnapshotUnsupported) when it cannot. The pod annotation backup.ferry.dev/snapshot-mode overrides it per volume. Pre hooks run before the snapshot is taken, post hooks as soon as it is cut.', SNAPSHOT_MODES)),
  volumeSnapshotClass: opt(objectName('VolumeSnapshotClass for the snapshots of snapshot mode, used for claims of its driver. Default: the class of the claim\'s driver annotated snapshot.storage.kubernetes.io/is-default-class: "true".')),
  location: opt(objectName('BackupLocation to write to. Default: the location with spec.default: true.')),
  mover: opt(mover('Mover for repositories this Backup creates. Default: native; an existing repository keeps its own.')),
  tags: tags('Tags added to every snapshot.'),
  ttl: opt(duration('How long after creation a finished Backup is kept: then the coordinator deletes it (Event Expired) and, with spec.purgeOnDelete, forgets its snapshots; without purgeOnDelete the snapshots stay until retention or forget removes them. 0 keeps it until deleted by hand. Default 720h.', BACKUP_DEFAULTS.ttl)),
  volumeTimeout: opt(duration('Per-volume time limit; a volume that exceeds it fails alone. Default 4h.', BACKUP_DEFAULTS.volumeTimeout)),
  purgeOnDelete: opt(bool('When the Backup is deleted, also forget its snapshots in the repositories (data is freed by the next prune).')),
  cancel: opt(bool('Set to true to cancel: running volumes stop, the Backup ends Canceled.')),
});
export type BackupSpec = Infer<typeof BackupSpecSchema>;

export const SkippedVolumeSchema = obj('A pod volume that was not backed up, and why.', {
  namespace: dnsLabel('Namespace of the pod.'),
  pod: objectName('Name of the pod.'),
  volume: str('Volume name (as written in the annotation, which may be invalid).', { maxLength: 253 }),
  reason: str('Machine-readable reason: PodNotFound, HostPath, Secret, ConfigMap, Projected, DownwardAPI, Image, BlockVolume, ExcludedByAnnotation, ExcludedByPVC, ExcludedByBackup, NotOptedIn, PodNotRunning, PVCNotFound, PVCNotBound, UnknownSource, Unschedulable, ProvisioningFailed, HelperPodTimeout, HelperPodFailed, HelperPodsUnsupported.', { pattern: REASON_PATTERN, maxLength: 128 }),
  message: opt(str('Detail.', { maxLength: 1024 })),
});
export type SkippedVolume = Infer<typeof SkippedVolumeSchema>;

export const ReportedAnnotationProblemSchema = obj('A malformed annotation on a pod or PVC.', {
  namespace: dnsLabel('Namespace of the object.'),
  objectKind: oneOf('Kind of the annotated object.', ['Pod', 'PersistentVolumeClaim']),
  name: objectName('Name of the object.'),
  key: str('The annotation key.', { maxLength: 317 }),
  value: str('The value, truncated.', { maxLength: 256 }),
  expected: str('What a valid value looks like.', { maxLength: 1024 }),
});
export type ReportedAnnotationProblem = Infer<typeof ReportedAnnotationProblemSchema>;

export const BackupStatusSchema = obj('Observed state of the Backup, aggregated over its PodVolumeBackups.', {
  phase: opt(oneOf('Where the Backup is. Terminal: Completed, PartiallyFailed, Failed, Canceled.', OPERATION_PHASES)),
  conditions: conditions(),
  observedGeneration: opt(int64('metadata.generation the status was computed from.', { minimum: 0 })),
  location: opt(objectName('The BackupLocation used (after defaulting).')),
  startTimestamp: opt(time('When work started.')),
  completionTimestamp: opt(time('When the Backup reached a terminal phase.')),
  expiration: opt(time('When the coordinator deletes the Backup (creation + ttl).')),
  progress: opt(ProgressSchema),
  counts: opt(VolumeCountsSchema),
  fileErrorsTotal: fileErrorsTotal(),
  skippedVolumes: opt(arr('Volumes not backed up, with reasons (at most 1000 listed; counts.skipped has the total).', SkippedVolumeSchema, { maxItems: 1000 })),
  annotationProblems: opt(arr('Malformed annotations found (at most 100 listed).', ReportedAnnotationProblemSchema, { maxItems: 100 })),
  error: opt(ErrorInfoSchema),
});
export type BackupStatus = Infer<typeof BackupStatusSchema>;

export type Backup = Resource<'Backup', BackupSpec, BackupStatus>;

export const BACKUP_CRD: CrdDefinition = {
  kind: 'Backup',
  plural: 'backups',
  singular: 'backup',
  shortNames: ['fb'],
  scope: 'Namespaced',
  description: 'A backup of the annotated volumes of the pods in one or more namespaces; one PodVolumeBackup per volume.',
  spec: BackupSpecSchema,
  status: BackupStatusSchema,
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Where the Backup is.' },
    { name: 'Volumes', type: 'integer', jsonPath: '.status.counts.total', description: 'Volumes selected.' },
    { name: 'Completed', type: 'integer', jsonPath: '.status.counts.completed', description: 'Volumes completed.' },
    { name: 'Failed', type: 'integer', jsonPath: '.status.counts.failed', description: 'Volumes failed.' },
    { name: 'Skipped', type: 'integer', jsonPath: '.status.counts.skipped', description: 'Volumes skipped with a reason.', priority: 1 },
    { name: 'Bytes', type: 'integer', jsonPath: '.status.progress.bytesDone', description: 'Bytes read so far.' },
    { name: 'Total-Bytes', type: 'integer', jsonPath: '.status.progress.totalBytes', description: 'Bytes expected.', priority: 1 },
    { name: 'Location', type: 'string', jsonPath: '.status.location', description: 'BackupLocation used.', priority: 1 },
    { name: 'Expires', type: 'string', jsonPath: '.status.expiration', description: 'When the Backup is deleted.', priority: 1 },
    AGE_COLUMN,
  ],
};

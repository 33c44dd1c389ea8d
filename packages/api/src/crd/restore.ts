import {
  accessModes,
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
  quantity,
  snapshotId,
  VolumeCountsSchema,
} from './common.js';
import { NAMESPACE_AFFIX_MAX_LENGTH, NAMESPACE_PREFIX_PATTERN, NAMESPACE_SUFFIX_PATTERN } from './namespace-mapping.js';
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

export const RestoreTargetClaimSchema = obj(
  'Restore a backed-up claim into a claim of its own instead of into a pod that you create: a new claim the coordinator creates (the default), or, with existing, a claim that exists and that no pod mounts. A helper pod mounts it while the agent writes the data, then is deleted; the claim stays.',
  {
    claim: str('The backed-up claim (the PodVolumeBackup\'s spec.volume.pvc.name, or spec.snapshots[].claimName); `*` is every backed-up claim no other entry names.', { pattern: '^(\\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$', maxLength: 253 }),
    namespace: opt(dnsLabel('Only the claim of this source namespace. Absent: the claim of that name in every restored namespace.')),
    name: opt(objectName('The target claim in the target namespace. Default: the backed-up claim\'s name. Not with claim `*`.')),
    existing: opt(bool('Restore into this existing claim instead of creating one. It must exist and no pod may mount it (see spec.force). Without existing, a claim of that name that exists is refused, never written to.')),
    storageClassName: opt(str('Storage class of the new claim. Default: the backed-up claim\'s, mapped through spec.storageClassMap. Not with existing.', { maxLength: 253 })),
    storage: opt(quantity('Size of the new claim. Default: the backed-up claim\'s capacity. Not with existing.')),
    accessModes: opt(accessModes('Access modes of the new claim. Default: the backed-up claim\'s. Not with existing.')),
  },
);
export type RestoreTargetClaim = Infer<typeof RestoreTargetClaimSchema>;

export const RestoreClaimStatusSchema = obj('A claim the Restore restores into (spec.targetClaims).', {
  namespace: dnsLabel('Target namespace.'),
  name: objectName('Target claim.'),
  sourceClaim: objectName('The backed-up claim.'),
  created: opt(bool('The Restore created this claim (it stays after the Restore, labelled app.kubernetes.io/managed-by=ferry).')),
  phase: oneOf('Pending: waiting for the claim (creation, binding, a pod that still mounts it with force) or the helper pod; Restoring: a PodVolumeRestore moves the data; Completed; Failed (reason says why).', ['Pending', 'Restoring', 'Completed', 'Failed']),
  reason: opt(str('Why it failed or waits (ClaimExists, ClaimInUse, ClaimNotFound, ProvisioningFailed, Unschedulable, HelperPodFailed, HelperPodTimeout...).', { maxLength: 128 })),
  message: opt(str('Details for humans.', { maxLength: 2048 })),
  helperPod: opt(objectName('The helper pod that mounts the claim while the data moves (deleted afterwards).')),
});
export type RestoreClaimStatus = Infer<typeof RestoreClaimStatusSchema>;

export const RestoreSpecSchema = obj(
  'What to restore and where. Exactly one of backupName, latest and snapshots is set. The pods are then created by you (or Helm, GitOps, a controller); matching pods are held by restore-wait until their data is back.',
  {
    backupName: opt(objectName('A Backup in this namespace to restore (Completed or PartiallyFailed).')),
    latest: opt(RestoreLatestSchema),
    snapshots: opt(arr('Explicit snapshots to restore instead of a Backup.', RestoreSnapshotSchema, { minItems: 1, maxItems: 1000 })),
    namespaceMapping: opt(map('Source namespace → target namespace; it wins over namespacePrefix/namespaceSuffix. Unmapped namespaces restore into themselves (or prefix + name + suffix). Outside the coordinator\'s namespace a Restore that restores anywhere but its own namespace must be admitted by the restores.ferry.dev webhook, which checks the creator may create restores in every target and get backups in every source namespace (docs/api.md).', dnsLabel('Target namespace.'), { maxProperties: 1000 })),
    namespacePrefix: opt(str('Prepended to every source namespace that namespaceMapping does not map (restore API order: the map first). prefix + name + suffix must be a DNS-1123 label of at most 63 characters; the Restore fails with InvalidTargetNamespace otherwise.', { pattern: NAMESPACE_PREFIX_PATTERN, maxLength: NAMESPACE_AFFIX_MAX_LENGTH })),
    namespaceSuffix: opt(str('Appended to every source namespace that namespaceMapping does not map, after namespacePrefix.', { pattern: NAMESPACE_SUFFIX_PATTERN, maxLength: NAMESPACE_AFFIX_MAX_LENGTH })),
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
    targetClaims: opt(arr('Backed-up claims restored into claims (new or existing) through helper pods instead of into pods you create. Claims not named here are restored into pods as usual.', RestoreTargetClaimSchema, { maxItems: 1000 })),
    storageClassMap: opt(map('Old storage class → new: applies to the claims the Restore creates (spec.targetClaims without an explicit storageClassName).', str('The new storage class.', { maxLength: 253 }), { maxProperties: 100 })),
    force: opt(bool('For existing target claims: instead of refusing while a pod mounts the claim, wait (scaling nothing down) until no pod mounts it, at most spec.podWaitTimeout.')),
    hooks: opt(oneOf('Run (default): once a restored pod\'s volumes are back, run the restore hook it declares (post.hook.restore.ferry.dev/command). Skip: run no restore hooks (data only); read when a pod\'s PodVolumeRestores are created.', RESTORE_HOOKS_MODES, { default: RESTORE_DEFAULTS.hooks })),
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
  claims: opt(arr('The claims of spec.targetClaims and where each is.', RestoreClaimStatusSchema, { maxItems: 1000 })),
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

/**
 * Shapes shared by several Ferry custom resources: references, label selectors,
 * conditions, progress, errors and the phase sets. Written once with the schema
 * builders; the exported types are inferred from them.
 */
import { DURATION_PATTERN } from '../annotations/duration.js';
import { EXCLUDE_PATH_LIMITS, EXCLUDE_PATH_PATTERN } from '../annotations/exclude-paths.js';
import { arr, bool, int32, int64, keyedList, map, obj, oneOf, opt, str, time, type Infer } from './schema.js';

export const API_GROUP = 'ferry.dev';
export const API_VERSION = 'v1alpha1';
export const GROUP_VERSION = 'ferry.dev/v1alpha1';

/** A DNS-1123 label: volume names, namespace names, location names. */
export const DNS1123_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A DNS-1123 subdomain: most object names (pods, PVCs, Secrets, Ferry resources). */
export const DNS1123_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Condition reasons and error codes: CamelCase, machine-readable (metav1.Condition's rule). */
export const REASON_PATTERN = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';
/**
 * The emptyDir the restore webhook adds to a pod that restores a block volume: a device has
 * no directory for restore markers, so restore-wait waits in `<this emptyDir>/<volume name>`
 * and the agent writes that volume's markers there (docs/agent.md, docs/coordinator.md).
 */
export const RESTORE_MARKER_VOLUME = 'ferry-restore-markers';
/** A full snapshot id (native and restic both use 64 lower-case hex digits). */
export const SNAPSHOT_ID_PATTERN = '^[0-9a-f]{64}$';

export const dnsLabel = (description: string) => str(description, { pattern: DNS1123_LABEL_PATTERN, maxLength: 63 });
export const objectName = (description: string) => str(description, { pattern: DNS1123_SUBDOMAIN_PATTERN, maxLength: 253 });
export const uid = (description: string) => str(description, { maxLength: 128 });
export const duration = (description: string, defaultValue?: string) =>
  str(description, { pattern: DURATION_PATTERN, maxLength: 64, ...(defaultValue === undefined ? {} : { default: defaultValue }) });
/** A Kubernetes resource quantity (`10Gi`, `500M`, `1e9`). */
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?([eE][0-9]+|[KMGTPE]i?|[mkMGTPE])?$';
export const quantity = (description: string) => str(description, { pattern: QUANTITY_PATTERN, maxLength: 64 });
export const PVC_ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;
export const accessModes = (description: string) => arr(description, oneOf('An access mode.', PVC_ACCESS_MODES), { minItems: 1, maxItems: 4, listType: 'set' });
export const snapshotId = (description: string) => str(description, { pattern: SNAPSHOT_ID_PATTERN });

/** Which engine moves the data: Ferry's own repository format, or the restic binary. */
export const MOVERS = ['native', 'restic'] as const;
export type Mover = (typeof MOVERS)[number];
export const mover = (description: string) => oneOf(description, MOVERS);

/** Phases of an operation (Backup, PodVolumeBackup, Restore, PodVolumeRestore). */
export const OPERATION_PHASES = ['New', 'InProgress', 'Completed', 'PartiallyFailed', 'Failed', 'Canceled'] as const;
export type OperationPhase = (typeof OPERATION_PHASES)[number];
/** Phases after which an operation never changes again. */
export const TERMINAL_PHASES = ['Completed', 'PartiallyFailed', 'Failed', 'Canceled'] as const;
export type TerminalPhase = (typeof TERMINAL_PHASES)[number];

export function isTerminalPhase(phase: string | undefined): phase is TerminalPhase {
  return (TERMINAL_PHASES as readonly string[]).includes(phase ?? '');
}

export const SecretKeySelectorSchema = obj('A key of a Secret.', {
  name: objectName('Name of the Secret.'),
  namespace: opt(dnsLabel("Namespace of the Secret. Defaults to the coordinator's namespace.")),
  key: opt(str('Key inside the Secret. Each field that takes a Secret documents its default key.', { maxLength: 253 })),
});
export type SecretKeySelector = Infer<typeof SecretKeySelectorSchema>;

export const LabelSelectorSchema = obj('A Kubernetes label selector (the same form as a Deployment\'s selector). Empty selects everything.', {
  matchLabels: opt(map('Labels that must all be present with these values.', str('Label value.', { maxLength: 63 }))),
  matchExpressions: opt(
    arr(
      'Set-based requirements; all must hold.',
      obj('A label requirement.', {
        key: str('Label key.', { maxLength: 317 }),
        operator: oneOf('How the key relates to the values.', ['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: opt(arr('Values for In and NotIn; empty for Exists and DoesNotExist.', str('A label value.', { maxLength: 63 }))),
      }),
    ),
  ),
});
export type LabelSelector = Infer<typeof LabelSelectorSchema>;

export const ConditionSchema = obj('One aspect of the resource\'s state (metav1.Condition).', {
  type: str('Condition type, CamelCase (see docs/crds.md for the types each kind uses).', { maxLength: 316 }),
  status: oneOf('Whether the condition holds.', ['True', 'False', 'Unknown']),
  reason: str('Machine-readable CamelCase reason for the last transition.', { pattern: REASON_PATTERN, minLength: 1, maxLength: 1024 }),
  message: str('Human-readable detail naming the object and the fix.', { maxLength: 32768 }),
  lastTransitionTime: time('When the status last changed.'),
  observedGeneration: opt(int64('metadata.generation the condition was computed from.', { minimum: 0 })),
});
export type Condition = Infer<typeof ConditionSchema>;

export const conditions = () =>
  opt(keyedList('Current conditions, one per type.', ConditionSchema, ['type'], { maxItems: 32 }));

export const ProgressSchema = obj('How far the data transfer has come. Totals are absent while unknown.', {
  bytesDone: int64('Bytes read (backup) or written (restore) so far.', { minimum: 0 }),
  totalBytes: opt(int64('Bytes expected in total.', { minimum: 0 })),
  filesDone: int64('Files done so far.', { minimum: 0 }),
  totalFiles: opt(int64('Files expected in total.', { minimum: 0 })),
  updatedAt: opt(time('When the progress was last written (at most every few seconds).')),
});
export type Progress = Infer<typeof ProgressSchema>;

export const ErrorInfoSchema = obj('Why the operation failed.', {
  code: str('Machine-readable CamelCase code (e.g. AgentUnavailable, Timeout, VolumeNotFound, RepositoryCorrupt).', {
    pattern: REASON_PATTERN,
    maxLength: 128,
  }),
  message: str('What failed, naming the resource and the fix. Never contains secrets.', { maxLength: 32768 }),
  retriable: opt(bool('True when running the operation again may succeed.')),
});
export type ErrorInfo = Infer<typeof ErrorInfoSchema>;

export const VolumeCountsSchema = obj('How many pod volumes are in each state.', {
  total: int32('Volumes selected for the operation (skipped ones not included).', { minimum: 0 }),
  new: int32('Volumes not yet started (New, WaitingForPod, WaitingForAgent).', { minimum: 0 }),
  inProgress: int32('Volumes being transferred.', { minimum: 0 }),
  completed: int32('Volumes that completed.', { minimum: 0 }),
  partiallyFailed: int32('Volumes that completed with some files unreadable or unwritable.', { minimum: 0 }),
  failed: int32('Volumes that failed.', { minimum: 0 }),
  canceled: int32('Volumes that were canceled.', { minimum: 0 }),
  skipped: int32('Volumes that were skipped with a reason (see skippedVolumes).', { minimum: 0 }),
});
export type VolumeCounts = Infer<typeof VolumeCountsSchema>;

export const PodRefSchema = obj('The pod a volume belongs to.', {
  namespace: dnsLabel('Namespace of the pod.'),
  name: objectName('Name of the pod.'),
  uid: uid('UID of the pod; the agent finds the volume under <pods-dir>/<uid>/volumes.'),
  controller: opt(
    obj("The pod's controller owner at backup time; a restore matches recreated pods by it for non-PVC volumes.", {
      kind: str('Kind of the owner (ReplicaSet, StatefulSet, Job, ...).', { maxLength: 63 }),
      name: objectName('Name of the owner.'),
    }),
  ),
});
export type PodRef = Infer<typeof PodRefSchema>;

export const fileErrorsTotal = () => opt(int64('Files that could not be read or written although the volume completed.', { minimum: 0 }));

/**
 * The volume sources of a pod spec (the field names of core/v1 Volume). A volume's kind is
 * the one of these its spec sets; the agent derives the directory under the pod from it.
 */
export const VOLUME_SOURCE_KINDS = [
  'emptyDir',
  'persistentVolumeClaim',
  'ephemeral',
  'csi',
  'hostPath',
  'secret',
  'configMap',
  'projected',
  'downwardAPI',
  'image',
  'nfs',
  'iscsi',
  'rbd',
  'cephfs',
  'fc',
  'flexVolume',
  'gitRepo',
  'glusterfs',
  'awsElasticBlockStore',
  'azureDisk',
  'azureFile',
  'cinder',
  'gcePersistentDisk',
  'flocker',
  'photonPersistentDisk',
  'portworxVolume',
  'quobyte',
  'scaleIO',
  'storageos',
  'vsphereVolume',
] as const;
export type VolumeSourceKind = (typeof VOLUME_SOURCE_KINDS)[number];

/** Not a volume source: a backup command's output (annotation backup.ferry.dev/backup-command), run by the coordinator. */
export const COMMAND_VOLUME_KIND = 'command';

export const VolumeRefSchema = obj('A volume of the pod.', {
  name: dnsLabel('Name of the volume in the pod spec; for kind command, the container the command runs in.'),
  kind: oneOf('The volume source set in the pod spec, or command: the stdout of the pod\'s backup command.', [...VOLUME_SOURCE_KINDS, COMMAND_VOLUME_KIND]),
  command: opt(
    obj('For kind command: where the backup command runs and the file its stdout is stored as.', {
      container: dnsLabel('Container the command runs in.'),
      fileName: str('File name in the snapshot: <pod>-<container>[.<extension>].', { pattern: '^[^/]+$', maxLength: 255 }),
    }),
  ),
  pvc: opt(
    obj('For persistentVolumeClaim and ephemeral volumes: the claim.', {
      name: objectName('Name of the PersistentVolumeClaim.'),
      uid: uid('UID of the claim: the stable identity used to find the parent snapshot.'),
      storageClassName: opt(str('The claim\'s storage class when it was backed up: a restore into a new claim uses it (mapped through the Restore\'s storageClassMap) unless targetClaims names another.', { maxLength: 253 })),
      storage: opt(quantity('The claim\'s capacity when it was backed up (status.capacity.storage, else its request): the size of a new claim a restore creates unless targetClaims names another.')),
      accessModes: opt(accessModes('The claim\'s access modes when it was backed up: those of a new claim a restore creates unless targetClaims names others.')),
    }),
  ),
  pvName: opt(objectName('Name of the PersistentVolume bound to the claim; the kubelet names the volume directory after it.')),
  volumeMode: opt(oneOf('Block: the claim is a raw block volume (volumeDevices), backed up and restored as a device image by the ferry mover. Absent: Filesystem.', ['Filesystem', 'Block'])),
});
export type VolumeRef = Infer<typeof VolumeRefSchema>;

/** Backup.spec.snapshotMode and backup.ferry.dev/snapshot-mode: copy a CSI claim from a VolumeSnapshot (docs/helper-pods.md). */
export const SNAPSHOT_MODES = ['Auto', 'Always', 'Never'] as const;
export type SnapshotMode = (typeof SNAPSHOT_MODES)[number];

export const AgentRefSchema = obj('The agent that holds the job.', {
  node: str('Node the agent runs on.', { maxLength: 253 }),
  instanceId: str('The agent process instance (changes when the agent restarts).', { maxLength: 128 }),
});
export type AgentRef = Infer<typeof AgentRefSchema>;

export const TAG_PATTERN = '^[^,]+$';
/** Path globs not backed up inside a volume (the rules are in annotations/exclude-paths.ts). */
export const excludePaths = (description: string, maxItems: number = EXCLUDE_PATH_LIMITS.maxItems) =>
  opt(arr(description, str('A path glob relative to the volume root.', { pattern: EXCLUDE_PATH_PATTERN, minLength: 1, maxLength: EXCLUDE_PATH_LIMITS.maxLength }), { maxItems, listType: 'set' }));

export const tags = (description: string) => opt(arr(description, str('A tag (no commas).', { pattern: TAG_PATTERN, maxLength: 255 }), { maxItems: 64, listType: 'set' }));

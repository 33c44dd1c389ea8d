import { conditions, dnsLabel, objectName, SecretKeySelectorSchema } from './common.js';
import { AGE_COLUMN, type CrdDefinition, type Resource } from './definition.js';
import { bool, describe, obj, oneOf, opt, str, time, type Infer } from './schema.js';

export const BackupLocationSpecSchema = obj(
  'Where repositories are stored: an S3 bucket or a filesystem path. Exactly one of s3 and filesystem is set.',
  {
    s3: opt(
      obj('An S3 (or S3-compatible: Ceph RGW, MinIO, ...) bucket.', {
        bucket: str('Bucket name.', { minLength: 3, maxLength: 63 }),
        endpoint: opt(str('Endpoint URL (https://host:port). Absent: AWS for the region.', { pattern: '^https?://', maxLength: 2048 })),
        region: opt(str('Region. Absent: us-east-1.', { maxLength: 64 })),
        prefix: opt(str('Key prefix inside the bucket; each repository lives under <prefix>/<repository path>.', { pattern: '^[^/].*[^/]$|^[^/]$', maxLength: 512 })),
        forcePathStyle: opt(bool('Address the bucket as <endpoint>/<bucket> instead of <bucket>.<endpoint> (needed by most non-AWS servers).')),
        caBundleRef: opt(describe(SecretKeySelectorSchema, 'A Secret key holding PEM CA certificates to trust for the endpoint. Default key: ca.crt.')),
      }),
    ),
    filesystem: opt(
      obj('A directory on a filesystem every agent mounts at the same path (e.g. NFS).', {
        path: str('Absolute path as seen by the agents.', { pattern: '^/', maxLength: 4096 }),
      }),
    ),
    credentialsSecretRef: opt(
      obj(
        'The Secret with the S3 credentials (keys accessKeyId, secretAccessKey, optional sessionToken). Absent: the SDK default chain (IRSA, instance profile).',
        {
          name: objectName('Name of the Secret.'),
          namespace: opt(dnsLabel("Namespace of the Secret. Defaults to the coordinator's namespace.")),
        },
      ),
    ),
    default: opt(bool('Use this location when a Backup names none. At most one location may be the default.')),
    accessMode: opt(oneOf('ReadOnly (set on a location imported from another cluster): restores only. Backups fail with LocationReadOnly; forget, purgeOnDelete, schedule retention and prune are refused with an Event naming the location (a check still runs). Default ReadWrite.', ['ReadWrite', 'ReadOnly'], { default: 'ReadWrite' })),
  },
  { exactlyOneOf: [['s3'], ['filesystem']] },
);
export type BackupLocationSpec = Infer<typeof BackupLocationSpecSchema>;

export const BACKUP_LOCATION_PHASES = ['New', 'Available', 'Unavailable'] as const;
export type BackupLocationPhase = (typeof BACKUP_LOCATION_PHASES)[number];

export const BackupLocationStatusSchema = obj('Observed state of the location.', {
  phase: opt(oneOf('Available once the coordinator reached the location with its credentials.', BACKUP_LOCATION_PHASES)),
  conditions: conditions(),
  lastValidationTime: opt(time('When the coordinator last checked that the location is reachable.')),
});
export type BackupLocationStatus = Infer<typeof BackupLocationStatusSchema>;

export type BackupLocation = Resource<'BackupLocation', BackupLocationSpec, BackupLocationStatus>;

export const BACKUP_LOCATION_CRD: CrdDefinition = {
  kind: 'BackupLocation',
  plural: 'backuplocations',
  singular: 'backuplocation',
  shortNames: ['fbl'],
  scope: 'Cluster',
  description: 'A place repositories are stored (S3 bucket or filesystem path) and the credentials to reach it. Cluster-scoped: set up by cluster administrators.',
  spec: BackupLocationSpecSchema,
  status: BackupLocationStatusSchema,
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Whether the location is reachable.' },
    { name: 'Bucket', type: 'string', jsonPath: '.spec.s3.bucket', description: 'S3 bucket.' },
    { name: 'Path', type: 'string', jsonPath: '.spec.filesystem.path', description: 'Filesystem path.' },
    { name: 'Default', type: 'boolean', jsonPath: '.spec.default', description: 'Used when a Backup names no location.' },
    { name: 'Endpoint', type: 'string', jsonPath: '.spec.s3.endpoint', description: 'S3 endpoint.', priority: 1 },
    { name: 'Prefix', type: 'string', jsonPath: '.spec.s3.prefix', description: 'Key prefix.', priority: 1 },
    AGE_COLUMN,
  ],
};

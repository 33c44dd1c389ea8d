import { conditions, dnsLabel, duration, mover, objectName, SecretKeySelectorSchema } from './common.js';
import { AGE_COLUMN, type CrdDefinition, type Resource } from './definition.js';
import { describe, int32, int64, obj, oneOf, opt, str, time, type Infer } from './schema.js';

export const REPOSITORY_ID_PATTERN = '^[0-9a-f]{32,64}$';

export const BackupRepositorySpecSchema = obj(
  "One repository: a location × namespace pair with its own master key. Lives in the coordinator's namespace; the coordinator creates it on first use.",
  {
    location: objectName('Name of the BackupLocation.'),
    namespace: dnsLabel('The namespace whose volumes this repository holds.'),
    mover: mover('Format of the repository: native (Ferry) or restic.'),
    path: opt(str('Path of the repository under the location (prefix). Default: the namespace name.', { pattern: '^[^/].*$', maxLength: 1024 })),
    repositoryId: opt(
      str('The id found in the repository config when it was first opened. A repository with another id at this path fails with RepositoryIdMismatch.', {
        pattern: REPOSITORY_ID_PATTERN,
      }),
    ),
    keySecretRef: describe(
      SecretKeySelectorSchema,
      "The Secret key that opens the repository: for native, the cluster key that wraps this repository's master key (default key: cluster-key); for restic, the repository password (default key: password).",
    ),
    maintenance: opt(
      obj('Scheduled repository maintenance, run by an agent or a job, never by the coordinator itself.', {
        checkInterval: opt(duration('Time between checks. Default 168h. 0 disables.')),
        readDataPercent: opt(int32('Share of pack data each check downloads and verifies. Default 5.', { minimum: 0, maximum: 100 })),
        pruneInterval: opt(duration('Time between prunes. Default 168h. 0 disables.')),
      }),
    ),
  },
);
export type BackupRepositorySpec = Infer<typeof BackupRepositorySpecSchema>;

export const BACKUP_REPOSITORY_PHASES = ['New', 'Ready', 'NotReady'] as const;
export type BackupRepositoryPhase = (typeof BACKUP_REPOSITORY_PHASES)[number];

/**
 * Annotations on a BackupRepository that ask for maintenance now (the public API sets
 * them). A request is served once a run starts at or after its time (docs/maintenance.md).
 */
export const MAINTENANCE_ANNOTATIONS = {
  /** RFC 3339 time of a check request. */
  checkRequested: 'maintenance.ferry.dev/check-requested',
  /** Integer 0..100: share of pack data the requested check reads (default: spec.maintenance.readDataPercent). */
  checkReadDataPercent: 'maintenance.ferry.dev/check-read-data-percent',
  /** RFC 3339 time of a prune request. */
  pruneRequested: 'maintenance.ferry.dev/prune-requested',
} as const;

export const MAINTENANCE_OPERATIONS = ['check', 'prune'] as const;

const runFields = {
  startedAt: opt(time('When the run was assigned to an agent.')),
  time: time('When the run finished.'),
  result: oneOf('How it ended.', ['Succeeded', 'Failed']),
  node: opt(str('Node of the agent that ran it.', { maxLength: 253 })),
  requestedAt: opt(time('The request (annotation) this run served; absent for a scheduled run.')),
};

const MaintenanceRunSchema = obj('The outcome of a maintenance run.', {
  ...runFields,
  message: opt(str('What was found or what failed (names a damaged pack or index).', { maxLength: 32768 })),
  errors: opt(int64('Problems the check found (0: sound).', { minimum: 0 })),
  readDataPercent: opt(int32('Share of pack data the check read back and verified.', { minimum: 0, maximum: 100 })),
});

export const BackupRepositoryStatusSchema = obj('Observed state of the repository.', {
  phase: opt(oneOf('Ready once the coordinator opened the repository with its key (creating it first when this cluster owns it and it does not exist) and, for an imported one, found the id in spec.repositoryId. NotReady: the Ready condition says why.', BACKUP_REPOSITORY_PHASES)),
  conditions: conditions(),
  initializedAt: opt(time('When the coordinator created the repository (absent when it existed already, e.g. created by an agent or imported).')),
  lastValidationTime: opt(time('When the coordinator last opened the repository (or, for a Ready imported one, re-read its id).')),
  lastCheck: opt(describe(MaintenanceRunSchema, 'The last repository check.')),
  lastPrune: opt(
    obj('The last prune.', {
      ...runFields,
      message: opt(str('What failed.', { maxLength: 32768 })),
      bytesFreed: opt(int64('Bytes deleted from the location.', { minimum: 0 })),
      packsDeleted: opt(int64('Pack files deleted.', { minimum: 0 })),
    }),
  ),
  maintenanceJob: opt(
    obj('The check or prune running now (at most one per repository).', {
      operation: oneOf('What runs.', MAINTENANCE_OPERATIONS),
      jobId: str('AgentHub job id; stable across coordinator restarts.', { maxLength: 128 }),
      node: str('Node of the agent it is assigned to.', { maxLength: 253 }),
      agentInstance: opt(str('Instance id of that agent process (a new one means it restarted).', { maxLength: 128 })),
      attempt: int32('Assignment number (1 first).', { minimum: 1 }),
      startedAt: time('When it was assigned.'),
      readDataPercent: opt(int32('Check: share of pack data to read back.', { minimum: 0, maximum: 100 })),
      requestedAt: opt(time('The request (annotation) it serves; absent for a scheduled run.')),
    }),
  ),
  nextCheckTime: opt(time('When the next scheduled check is due (absent: checks are disabled).')),
  nextPruneTime: opt(time('When the next scheduled prune is due (absent: prunes are disabled).')),
  sizeBytes: opt(int64('Bytes the repository occupies at the location (measured after each check and prune).', { minimum: 0 })),
  snapshotCount: opt(int64('Snapshots in the repository (counted after each check and prune).', { minimum: 0 })),
  observedGeneration: opt(int64('metadata.generation the status was computed from.', { minimum: 0 })),
});
export type BackupRepositoryStatus = Infer<typeof BackupRepositoryStatusSchema>;

export type BackupRepository = Resource<'BackupRepository', BackupRepositorySpec, BackupRepositoryStatus>;

export const BACKUP_REPOSITORY_CRD: CrdDefinition = {
  kind: 'BackupRepository',
  plural: 'backuprepositories',
  singular: 'backuprepository',
  shortNames: ['fbr'],
  scope: 'Namespaced',
  description: "A repository for one namespace at one location, with its own master key. Kept in the coordinator's namespace.",
  spec: BackupRepositorySpecSchema,
  status: BackupRepositoryStatusSchema,
  printerColumns: [
    { name: 'Location', type: 'string', jsonPath: '.spec.location', description: 'BackupLocation.' },
    { name: 'For-Namespace', type: 'string', jsonPath: '.spec.namespace', description: 'Namespace whose volumes it holds.' },
    { name: 'Mover', type: 'string', jsonPath: '.spec.mover', description: 'Repository format.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Ready once usable.' },
    { name: 'Size', type: 'integer', jsonPath: '.status.sizeBytes', description: 'Bytes at the location.' },
    { name: 'Snapshots', type: 'integer', jsonPath: '.status.snapshotCount', description: 'Snapshot count.' },
    { name: 'Last-Check', type: 'date', jsonPath: '.status.lastCheck.time', description: 'Time since the last check.' },
    { name: 'Check', type: 'string', jsonPath: '.status.lastCheck.result', description: 'Result of the last check.', priority: 1 },
    { name: 'Last-Prune', type: 'date', jsonPath: '.status.lastPrune.time', description: 'Time since the last prune.', priority: 1 },
    AGE_COLUMN,
  ],
};

/**
 * One realistic object of every kind with every field set, typed with the inferred types.
 * The types make the compiler check them; crd.test.ts checks them against the schemas and
 * that together they touch every field of every schema.
 */
import type { Backup } from './backup.js';
import type { BackupLocation } from './location.js';
import type { PodVolumeBackup } from './pod-volume-backup.js';
import type { PodVolumeRestore } from './pod-volume-restore.js';
import type { BackupRepository } from './repository.js';
import type { Restore } from './restore.js';
import type { BackupSchedule } from './schedule.js';

const T0 = '2025-03-01T02:00:00Z';
const T1 = '2025-03-01T02:05:31.250Z';
const SNAP = 'a'.repeat(64);
const PARENT = 'b'.repeat(64);

const condition = { type: 'Progressing', status: 'False', reason: 'Completed', message: 'All 2 volumes completed.', lastTransitionTime: T1, observedGeneration: 1 } as const;
const progress = { bytesDone: 1_048_576, totalBytes: 2_097_152, filesDone: 10, totalFiles: 20, updatedAt: T1 };
const error = { code: 'AgentUnavailable', message: 'No agent connected for node worker-1 within 10m; check the ferry-agent DaemonSet on that node.', retriable: true };
const counts = { total: 2, new: 0, inProgress: 0, completed: 1, partiallyFailed: 0, failed: 1, canceled: 0, skipped: 1 };
const labelSelector = { matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['backend'] }] };
const pod = { namespace: 'shop', name: 'db-0', uid: '6f1c1a52-3c43-4a59-9d5a-0f1b2c3d4e5f', controller: { kind: 'StatefulSet', name: 'db' } };
const volume = { name: 'data', kind: 'persistentVolumeClaim' as const, pvc: { name: 'data-db-0', uid: '0a1b2c3d-0000-4000-8000-000000000001', storageClassName: 'standard', storage: '10Gi', accessModes: ['ReadWriteOnce' as const] }, pvName: 'pvc-0a1b2c3d', volumeMode: 'Block' as const };
const agent = { node: 'worker-1', instanceId: 'agent-7f9c' };

export const backupLocationSample: BackupLocation = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'BackupLocation',
  metadata: { name: 'rgw' },
  spec: {
    s3: {
      bucket: 'ferry-backups',
      endpoint: 'https://rgw.storage.svc:7480',
      region: 'us-east-1',
      prefix: 'cluster-a',
      forcePathStyle: true,
      caBundleRef: { name: 'rgw-ca', namespace: 'ferry-system', key: 'ca.crt' },
    },
    credentialsSecretRef: { name: 'rgw-credentials', namespace: 'ferry-system' },
    default: true,
    accessMode: 'ReadWrite',
  },
  status: { phase: 'Available', conditions: [{ ...condition, type: 'Ready', status: 'True', reason: 'Available', message: 'Bucket ferry-backups reachable.' }], lastValidationTime: T1 },
};

export const filesystemLocationSample: BackupLocation = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'BackupLocation',
  metadata: { name: 'nfs' },
  spec: { filesystem: { path: '/mnt/ferry' } },
};

export const backupRepositorySample: BackupRepository = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'BackupRepository',
  metadata: { name: 'rgw-shop', namespace: 'ferry-system' },
  spec: {
    location: 'rgw',
    namespace: 'shop',
    mover: 'native',
    path: 'shop',
    repositoryId: '0123456789abcdef0123456789abcdef',
    keySecretRef: { name: 'ferry-cluster-key', namespace: 'ferry-system', key: 'cluster-key' },
    maintenance: { checkInterval: '168h', readDataPercent: 5, pruneInterval: '168h' },
  },
  status: {
    phase: 'Ready',
    conditions: [{ ...condition, type: 'Checked', status: 'True', reason: 'CheckPassed', message: 'No problem found.' }],
    initializedAt: T0,
    lastValidationTime: T1,
    lastCheck: { startedAt: T0, time: T1, result: 'Succeeded', node: 'node-a', requestedAt: T0, message: 'checked 12 packs, read 5%', errors: 0, readDataPercent: 5 },
    lastPrune: { startedAt: T0, time: T1, result: 'Succeeded', node: 'node-b', requestedAt: T0, bytesFreed: 4096, packsDeleted: 1, message: 'removed 1 pack' },
    maintenanceJob: { operation: 'check', jobId: '6f1c0d1e-1111-4222-8333-944455556666.check.1893456000.1', node: 'node-a', agentInstance: 'a1b2', attempt: 1, startedAt: T1, readDataPercent: 5, requestedAt: T1 },
    nextCheckTime: T1,
    nextPruneTime: T1,
    sizeBytes: 123_456_789,
    snapshotCount: 42,
    observedGeneration: 1,
  },
};

export const backupSample: Backup = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'Backup',
  metadata: { name: 'nightly-20250301020000', namespace: 'shop', uid: 'u-1', generation: 1, creationTimestamp: T0 },
  spec: {
    namespaces: ['shop'],
    labelSelector,
    pods: [{ name: 'db-0', volumes: ['data'] }, { name: 'db-1' }],
    includeVolumes: ['*'],
    excludeVolumes: ['cache'],
    location: 'rgw',
    mover: 'native',
    tags: ['nightly', 'team=shop'],
    excludes: ['cache', '/tmp/**'],
    ttl: '720h',
    volumeTimeout: '1h30m',
    purgeOnDelete: true,
    includeUnmountedClaims: true,
    snapshotMode: 'Auto',
    volumeSnapshotClass: 'csi-snapclass',
    cancel: false,
  },
  status: {
    phase: 'PartiallyFailed',
    conditions: [condition],
    observedGeneration: 1,
    location: 'rgw',
    startTimestamp: T0,
    completionTimestamp: T1,
    expiration: '2025-03-31T02:00:00Z',
    progress,
    counts,
    fileErrorsTotal: 0,
    skippedVolumes: [{ namespace: 'shop', pod: 'db-0', volume: 'kube-api-access-x1', reason: 'Projected', message: 'generated by the kubelet' }],
    annotationProblems: [{ namespace: 'shop', objectKind: 'Pod', name: 'db-0', key: 'pre.hook.backup.ferry.dev/timeout', value: '30 seconds', expected: 'a duration' }],
    error,
  },
};

export const podVolumeBackupSample: PodVolumeBackup = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'PodVolumeBackup',
  metadata: { name: 'nightly-20250301020000-x7k2p', namespace: 'shop' },
  spec: {
    backup: 'nightly-20250301020000',
    pod,
    node: 'worker-1',
    volume,
    repository: 'rgw-shop',
    mover: 'native',
    parentSnapshotId: PARENT,
    tags: ['nightly'],
    excludes: ['cache', '/tmp/**', '*.log'],
    timeout: '4h',
    cancel: false,
    snapshotMode: 'Always',
    volumeSnapshotClass: 'csi-snapclass',
  },
  status: {
    phase: 'Completed',
    conditions: [{ ...condition, type: 'AgentAssigned', status: 'True', reason: 'Assigned', message: 'Assigned to agent-7f9c on worker-1.' }],
    observedGeneration: 1,
    agent,
    attempt: 1,
    startTimestamp: T0,
    completionTimestamp: T1,
    progress,
    snapshotId: SNAP,
    parentSnapshotId: PARENT,
    snapshotForgotten: T1,
    stats: { filesNew: 3, filesChanged: 1, filesUnmodified: 16, bytesAdded: 4096, bytesDeduplicated: 1_000_000 },
    fileErrorsTotal: 0,
    error,
    volumeSnapshot: {
      name: 'ferry-snap-0a1b2c3d4e',
      className: 'csi-snapclass',
      uid: '0a1b2c3d-0000-4000-8000-000000000009',
      creationTime: T0,
      readyTimestamp: T0,
      restoreSize: '10Gi',
      claim: 'ferry-snap-0a1b2c3d4e',
      volumeName: 'pvc-0a1b2c3d-snap',
      helperPod: { name: 'ferry-helper-5e6f7a8b9c', uid: '0a1b2c3d-0000-4000-8000-00000000000a', node: 'worker-2' },
      cleanedUp: T1,
    },
  },
};

export const restoreSample: Restore = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'Restore',
  metadata: { name: 'shop-restore', namespace: 'ferry-system' },
  spec: {
    backupName: 'nightly-20250301020000',
    namespaceMapping: { shop: 'shop-copy' },
    namespacePrefix: 'restored-',
    namespaceSuffix: '-copy',
    selection: { namespaces: ['shop'], labelSelector, volumes: ['data'] },
    podWaitTimeout: '24h',
    volumeTimeout: '4h',
    cancel: false,
    targetClaims: [
      { claim: 'data-db-0', namespace: 'shop', name: 'data-copy', storageClassName: 'fast', storage: '20Gi', accessModes: ['ReadWriteOnce'] },
      { claim: 'logs', existing: true },
      { claim: '*' },
    ],
    storageClassMap: { standard: 'fast' },
    force: true,
    hooks: 'Run',
  },
  status: {
    backupName: 'nightly-20250301020000', phase: 'InProgress', conditions: [condition], observedGeneration: 1, startTimestamp: T0, completionTimestamp: T1, progress, counts, fileErrorsTotal: 0, error,
    claims: [{ namespace: 'shop-copy', name: 'data-copy', sourceClaim: 'data-db-0', created: true, phase: 'Pending', reason: 'WaitingForHelperPod', message: 'waiting for helper pod ferry-helper-0123456789 to run', helperPod: 'ferry-helper-0123456789' }],
  },
};

export const latestRestoreSample: Restore = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'Restore',
  metadata: { name: 'shop-yesterday', namespace: 'shop' },
  spec: { latest: { schedule: 'nightly', asOf: T0, previous: 1 } },
  status: { backupName: 'nightly-20250228020000', phase: 'InProgress' },
};

export const snapshotRestoreSample: Restore = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'Restore',
  metadata: { name: 'one-volume', namespace: 'shop' },
  spec: {
    snapshots: [
      { snapshotId: SNAP, location: 'rgw', namespace: 'shop', volume: 'data', claimName: 'data-db-0', pod: 'db-0', controller: { kind: 'StatefulSet', name: 'db' }, mover: 'restic' },
    ],
  },
};

export const podVolumeRestoreSample: PodVolumeRestore = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'PodVolumeRestore',
  metadata: { name: 'shop-restore-q9w', namespace: 'ferry-system' },
  spec: {
    restore: 'shop-restore',
    pod: { ...pod, namespace: 'shop-copy' },
    node: 'worker-2',
    target: volume,
    snapshotId: SNAP,
    repository: 'rgw-shop',
    mover: 'native',
    source: { podVolumeBackup: 'nightly-20250301020000-x7k2p', namespace: 'shop', pod: 'db-0', volume: 'data' },
    timeout: '4h',
    cancel: false,
  },
  status: {
    phase: 'WaitingForPod',
    conditions: [{ ...condition, type: 'AgentAssigned', status: 'False', reason: 'WaitingForPod', message: 'Pod shop-copy/db-0 has not started restore-wait.' }],
    observedGeneration: 1,
    agent: { ...agent, node: 'worker-2' },
    attempt: 2,
    startTimestamp: T0,
    completionTimestamp: T1,
    progress,
    stats: { filesRestored: 20, bytesRestored: 2_097_152 },
    markerWritten: true,
    fileErrorsTotal: 0,
    error,
  },
};

export const backupScheduleSample: BackupSchedule = {
  apiVersion: 'ferry.dev/v1alpha1',
  kind: 'BackupSchedule',
  metadata: { name: 'nightly', namespace: 'shop' },
  spec: {
    schedule: '0 2 * * *',
    timeZone: 'Europe/Berlin',
    startWindow: '3h',
    template: { ...backupSample.spec, ttl: '2160h' },
    paused: false,
    concurrencyPolicy: 'Forbid',
    maxCatchUp: 1,
    retention: { keepLast: 3, keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 2, keepWithin: '48h', keepTags: ['keep'] },
  },
  status: {
    phase: 'Active',
    conditions: [{ ...condition, type: 'Scheduled', status: 'True', reason: 'ScheduleValid', message: 'Next run 2025-03-02T01:00:00Z.' }],
    observedGeneration: 1,
    lastScheduleTime: T0,
    lastSuccessfulTime: T0,
    nextScheduleTime: '2025-03-02T01:00:00Z',
    lastBackup: 'nightly-20250301020000',
    active: ['nightly-20250301020000'],
    lastRetention: { time: T1, result: 'Succeeded', snapshotsForgotten: 2, message: 'kept 12' },
  },
};

/** Every sample, by kind, for the schema tests. */
/** A backup command's output (kind command): stored and restored as one file. */
const commandVolume = { name: 'postgres', kind: 'command' as const, command: { container: 'postgres', fileName: 'db-0-postgres.sql' } };

export const commandPodVolumeBackupSample: PodVolumeBackup = {
  ...podVolumeBackupSample,
  metadata: { name: 'nightly-20250301020000-c0mnd', namespace: 'shop' },
  spec: { ...podVolumeBackupSample.spec, volume: commandVolume },
};

export const commandPodVolumeRestoreSample: PodVolumeRestore = {
  ...podVolumeRestoreSample,
  metadata: { name: 'shop-restore-c0m', namespace: 'ferry-system' },
  spec: { ...podVolumeRestoreSample.spec, target: commandVolume },
};

export const SAMPLES = {
  BackupLocation: [backupLocationSample, filesystemLocationSample],
  BackupRepository: [backupRepositorySample],
  Backup: [backupSample],
  PodVolumeBackup: [podVolumeBackupSample, commandPodVolumeBackupSample],
  Restore: [restoreSample, latestRestoreSample, snapshotRestoreSample],
  PodVolumeRestore: [podVolumeRestoreSample, commandPodVolumeRestoreSample],
  BackupSchedule: [backupScheduleSample],
} as const;

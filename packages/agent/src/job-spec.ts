/**
 * The validated, internal form of an assigned job. Parsing happens once, when the job
 * arrives; everything after works on JobSpec and never on the raw message.
 */
import type { Job__Output, MaintenanceSpec__Output, S3CredentialsMessage__Output, VolumeKind__Output } from '@ferry/api';
import type { MoverKind, SourceIdentity } from '@ferry/mover';
import { AgentError } from './errors.js';

export type JobKindName = 'backup' | 'restore' | 'maintenance';
export type MaintenanceOperationName = 'check' | 'prune';
/** The bounded `op` label of the agent's metrics: a maintenance job counts as its operation. */
export type OperationName = 'backup' | 'restore' | MaintenanceOperationName;
export type VolumeKindName = 'emptyDir' | 'inPod' | 'persistent' | 'csiPersistent' | 'csiEphemeral';

export interface VolumeSpec {
  readonly namespace: string;
  readonly podName: string;
  readonly podUid: string;
  readonly volumeName: string;
  readonly kind: VolumeKindName;
  readonly pvName?: string;
  readonly pvcUid?: string;
  readonly pvcName?: string;
  readonly pluginDir?: string;
  readonly block: boolean;
}

export type RepositoryKeySpec = { readonly kind: 'cluster'; readonly key: Uint8Array } | { readonly kind: 'password'; readonly password: string };

export interface RepositorySpec {
  readonly location: string;
  readonly s3?: {
    /** Empty: the SDK's default credential chain (IRSA, instance profile...). */
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
    readonly region?: string;
    readonly caBundlePem?: string;
  };
  readonly key: RepositoryKeySpec;
  readonly initializeIfMissing: boolean;
}

export interface MaintenanceJobSpec {
  readonly operation: MaintenanceOperationName;
  /** Check: share of pack data to read back, 0..100 (0: structure only). */
  readonly readDataPercent: number;
  readonly repositoryName: string;
}

export interface JobSpec {
  readonly id: string;
  readonly kind: JobKindName;
  readonly mover: MoverKind;
  /** Backups and restores only; a maintenance job works on the repository alone. */
  readonly volume?: VolumeSpec;
  /** For logs and metrics: the volume's namespace, or the one whose volumes the repository holds. */
  readonly namespace: string;
  readonly repository: RepositorySpec;
  /** Undefined: no limit. */
  readonly timeoutMs?: number;
  readonly backup?: { readonly parent?: string; readonly excludes: readonly string[]; readonly tags: readonly string[] };
  readonly restore?: { readonly snapshotId: string; readonly restoreUid: string; readonly include?: string };
  readonly maintenance?: MaintenanceJobSpec;
}

export const JOB_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
/** Restore uids name marker files, so they get the same conservative alphabet. */
export const RESTORE_UID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
/** A single path segment as the kubelet writes it: no separators, not . or .. */
const SEGMENT = /^(?!\.{1,2}$)[^/\0]{1,253}$/;

const VOLUME_KINDS: Partial<Record<VolumeKind__Output, VolumeKindName>> = {
  VOLUME_KIND_EMPTY_DIR: 'emptyDir',
  VOLUME_KIND_IN_POD: 'inPod',
  VOLUME_KIND_PERSISTENT: 'persistent',
  VOLUME_KIND_CSI_PERSISTENT: 'csiPersistent',
  VOLUME_KIND_CSI_EPHEMERAL: 'csiEphemeral',
};

function invalid(jobId: string, what: string): AgentError {
  return new AgentError('InvalidJob', `job ${jobId || '(no id)'}: ${what}; the coordinator sent an incomplete assignment`);
}

function segment(jobId: string, field: string, value: string): string {
  if (!SEGMENT.test(value)) throw invalid(jobId, `${field} ${JSON.stringify(value)} is not a valid name`);
  return value;
}

export function parseJob(job: Job__Output): JobSpec {
  const id = job.jobId;
  if (!JOB_ID_PATTERN.test(id)) throw invalid(id, `job_id ${JSON.stringify(id)} must match ${JOB_ID_PATTERN.source}`);
  const kind = KINDS[job.kind];
  if (!kind) throw invalid(id, `kind ${String(job.kind)} is unspecified or unknown to this agent`);
  const mover: MoverKind | undefined = job.mover === 'MOVER_KIND_NATIVE' ? 'native' : job.mover === 'MOVER_KIND_RESTIC' ? 'restic' : undefined;
  if (!mover) throw invalid(id, 'mover is unspecified');
  const common = {
    id,
    mover,
    repository: parseRepository(id, job, mover),
    ...(job.timeoutSeconds > 0 ? { timeoutMs: job.timeoutSeconds * 1000 } : {}),
  };
  if (kind === 'maintenance') {
    const maintenance = parseMaintenance(id, job.maintenance);
    return { ...common, kind, namespace: job.maintenance?.namespace ?? '', maintenance };
  }
  const volume = parseVolume(id, job);
  const spec: JobSpec = { ...common, kind, volume, namespace: volume.namespace };
  if (kind === 'backup') {
    const b = job.backup;
    return { ...spec, backup: { ...(b?.parentSnapshotHint ? { parent: b.parentSnapshotHint } : {}), excludes: b?.excludes ?? [], tags: b?.tags ?? [] } };
  }
  const r = job.restore;
  if (!r?.snapshotId) throw invalid(id, 'restore.snapshot_id is empty');
  if (!RESTORE_UID_PATTERN.test(r.restoreUid)) throw invalid(id, `restore.restore_uid ${JSON.stringify(r.restoreUid)} must match ${RESTORE_UID_PATTERN.source}`);
  return { ...spec, restore: { snapshotId: r.snapshotId, restoreUid: r.restoreUid, ...(r.include ? { include: r.include } : {}) } };
}

const KINDS: Partial<Record<string, JobKindName>> = { JOB_KIND_BACKUP: 'backup', JOB_KIND_RESTORE: 'restore', JOB_KIND_MAINTENANCE: 'maintenance' };

function parseMaintenance(id: string, m: MaintenanceSpec__Output | null | undefined): MaintenanceJobSpec {
  if (!m) throw invalid(id, 'a maintenance job without maintenance details');
  const operation = m.operation === 'MAINTENANCE_OPERATION_CHECK' ? 'check' : m.operation === 'MAINTENANCE_OPERATION_PRUNE' ? 'prune' : undefined;
  if (!operation) throw invalid(id, 'maintenance.operation is unspecified');
  const percent = m.readDataPercent;
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) throw invalid(id, `maintenance.read_data_percent ${percent} is outside 0..100`);
  return { operation, readDataPercent: percent, repositoryName: m.repositoryName };
}

/** The volume of a backup or restore (parseJob guarantees one for those kinds). */
export function jobVolume(job: JobSpec): VolumeSpec {
  if (!job.volume) throw invalid(job.id, `a ${job.kind} job without a volume`);
  return job.volume;
}

export function operationOf(job: JobSpec): OperationName {
  return job.kind === 'maintenance' ? (job.maintenance?.operation ?? 'check') : job.kind;
}

function parseVolume(id: string, job: Job__Output): VolumeSpec {
  const v = job.volume;
  if (!v) throw invalid(id, 'volume is missing');
  const kind = VOLUME_KINDS[v.kind];
  if (!kind) throw invalid(id, 'volume.kind is unspecified');
  if (!/^[A-Za-z0-9-]{1,64}$/.test(v.podUid)) throw invalid(id, `volume.pod_uid ${JSON.stringify(v.podUid)} is not a pod UID`);
  const needsPv = kind === 'persistent' || kind === 'csiPersistent';
  if (needsPv && !v.pvName) throw invalid(id, `volume ${v.volumeName} is a persistent volume but pv_name is empty`);
  return {
    namespace: v.namespace,
    podName: v.podName,
    podUid: v.podUid,
    volumeName: segment(id, 'volume.volume_name', v.volumeName),
    kind,
    ...(v.pvName ? { pvName: segment(id, 'volume.pv_name', v.pvName) } : {}),
    ...(v.pvcUid ? { pvcUid: v.pvcUid } : {}),
    ...(v.pvcName ? { pvcName: v.pvcName } : {}),
    ...(v.pluginDir ? { pluginDir: segment(id, 'volume.plugin_dir', v.pluginDir) } : {}),
    block: v.block,
  };
}

function parseRepository(id: string, job: Job__Output, mover: MoverKind): RepositorySpec {
  const r = job.repository;
  if (!r?.location) throw invalid(id, 'repository.location is empty');
  const key = r.key;
  let parsed: RepositoryKeySpec;
  if (key?.key === 'clusterKey' && key.clusterKey) {
    if (key.clusterKey.length !== 32) throw invalid(id, `repository.key.cluster_key must be 32 bytes, got ${key.clusterKey.length}`);
    if (mover === 'restic') throw invalid(id, 'the restic mover needs a password, not a cluster key');
    parsed = { kind: 'cluster', key: new Uint8Array(key.clusterKey) };
  } else if (key?.key === 'password' && key.password) {
    parsed = { kind: 'password', password: key.password };
  } else {
    throw invalid(id, 'repository.key holds neither a cluster key nor a password');
  }
  const s3 = r.s3;
  const hasS3 = s3 !== null && (s3.accessKeyId !== '' || s3.region !== '' || s3.caBundlePem !== '');
  return {
    location: r.location,
    key: parsed,
    initializeIfMissing: r.initializeIfMissing,
    ...(hasS3 ? { s3: s3Spec(s3) } : {}),
  };
}

function s3Spec(s3: S3CredentialsMessage__Output): NonNullable<RepositorySpec['s3']> {
  return {
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    ...(s3.sessionToken ? { sessionToken: s3.sessionToken } : {}),
    ...(s3.region ? { region: s3.region } : {}),
    ...(s3.caBundlePem ? { caBundlePem: s3.caBundlePem } : {}),
  };
}

export function sourceIdentity(job: JobSpec): SourceIdentity {
  const v = jobVolume(job);
  return { kind: 'pod', namespace: v.namespace, pod: v.podName, volume: v.volumeName, ...(v.pvcUid ? { pvcUid: v.pvcUid } : {}), podUid: v.podUid };
}

/** The fields of a job that are safe to log: never the repository key or S3 credentials. */
export function describeJob(job: JobSpec): Record<string, string> {
  const where: Record<string, string> = job.volume ? { pod: job.volume.podName, volume: job.volume.volumeName } : { repository: job.maintenance?.repositoryName ?? '' };
  return { job: job.id, op: operationOf(job), mover: job.mover, namespace: job.namespace, ...where };
}

/** Every secret a job carries, to scrub from messages that leave the agent. */
export function jobSecrets(job: JobSpec): string[] {
  const out: string[] = [];
  const key = job.repository.key;
  if (key.kind === 'password') out.push(key.password);
  else out.push(Buffer.from(key.key).toString('hex'), Buffer.from(key.key).toString('base64'));
  if (job.repository.s3?.secretAccessKey) out.push(job.repository.s3.secretAccessKey);
  if (job.repository.s3?.sessionToken) out.push(job.repository.s3.sessionToken);
  return out.filter((s) => s.length >= 4);
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('[redacted]');
  return out;
}

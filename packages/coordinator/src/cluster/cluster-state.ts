/**
 * The coordinator's one seam to cluster state. Two implementations: `KubeClusterState`
 * (the Kubernetes API through client-node) and `LocalClusterState` (standalone mode: a
 * state directory plus pod manifests in a folder). The controllers, the public API and
 * the schedulers see only this interface, so the same code runs over both.
 *
 * Contract every implementation keeps:
 * - Objects carry `metadata.resourceVersion`; `replaceStatus` succeeds only when the
 *   object still has the version the caller read and otherwise throws an error that
 *   `isConflict` recognises (HTTP 409 semantics). Nothing is overwritten silently.
 * - `createOrGet` is idempotent by name; `delete` of a missing object is not an error.
 * - Objects with finalizers are only marked (deletionTimestamp) by `delete`; they go away
 *   when the last finalizer is removed by `mergePatch`. Owner references cascade.
 * - A watch reports every change after `start()` resolves; `list(kind)` is its cache.
 */
import type { Writable } from 'node:stream';
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Clock } from '../clock.js';

export const FERRY_KINDS = {
  BackupLocation: { plural: 'backuplocations', namespaced: false },
  BackupRepository: { plural: 'backuprepositories', namespaced: true },
  Backup: { plural: 'backups', namespaced: true },
  PodVolumeBackup: { plural: 'podvolumebackups', namespaced: true },
  Restore: { plural: 'restores', namespaced: true },
  PodVolumeRestore: { plural: 'podvolumerestores', namespaced: true },
  BackupSchedule: { plural: 'backupschedules', namespaced: true },
} as const;
export type FerryKind = keyof typeof FERRY_KINDS;

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  /** Who wrote which fields (the apiserver keeps it; the first entry is usually the creator). */
  managedFields?: { manager?: string; operation?: string }[];
}

/** A Ferry object as it comes from the cluster (spec and status typed by the caller). */
export interface FerryObject<S = unknown, T = unknown> {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: S;
  status?: T;
}

export interface EventOptions {
  readonly involved: { apiVersion: string; kind: string; name: string; namespace: string; uid?: string };
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export type WatchedKind = 'Backup' | 'PodVolumeBackup' | 'Restore' | 'PodVolumeRestore' | 'BackupSchedule' | 'BackupRepository' | 'Pod';

export interface ClusterEvent {
  readonly kind: WatchedKind;
  readonly type: 'add' | 'update' | 'delete';
  readonly object: { metadata?: ObjectMeta; spec?: unknown; status?: unknown };
}

/** Pods are watched only when they carry this label (pods adopted for a restore). */
export interface ClusterWatch {
  start(): Promise<void>;
  /** The cached objects of a kind (eventually consistent; read fresh before deciding). */
  list<T>(kind: WatchedKind): T[];
  stop(): Promise<void>;
}

export interface ExecOptions {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: readonly string[];
  /** Receives the command's stdout as it streams; back-pressure is honoured. */
  readonly stdout: Writable;
  readonly stderr?: Writable;
  /** Aborting ends the command's stream (the process in the container may linger). */
  readonly signal?: AbortSignal;
}

export interface ExecResult {
  /** 0 on success; -1 when the exit code is unknown (stream cut, aborted). */
  readonly exitCode: number;
  /** Why it failed, in words (never the command's output). */
  readonly message?: string;
}

export interface UserIdentity {
  readonly username: string;
  readonly groups: readonly string[];
  readonly uid?: string;
  /** Authenticator extras (scopes, credential ids): a SubjectAccessReview must repeat them to be answered for the same user. */
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface AccessRequest {
  readonly user: UserIdentity;
  readonly verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  readonly resource: string;
  readonly namespace?: string;
  readonly name?: string;
}

/** Pod CREATE admission as the webhook answers it: the pod, mutated or not. */
export type PodAdmission = (pod: V1Pod, namespace: string) => Promise<V1Pod>;

export interface ClusterState {
  /** `kubernetes` or `local`: shown in logs and used to pick defaults, never to branch controllers. */
  readonly mode: 'kubernetes' | 'local';
  get<O extends FerryObject>(kind: FerryKind, namespace: string, name: string): Promise<O | undefined>;
  list<O extends FerryObject>(kind: FerryKind, namespace?: string, labelSelector?: string): Promise<O[]>;
  /** Creates the object; an existing one of that name is returned instead (idempotent retries). */
  createOrGet<O extends FerryObject>(kind: FerryKind, body: O): Promise<O>;
  /** Replaces status iff the object still has the resourceVersion in `obj`; conflict otherwise. */
  replaceStatus<O extends FerryObject>(kind: FerryKind, obj: O, status: unknown): Promise<O>;
  /** A JSON merge patch of spec or metadata (finalizers, cancel). */
  mergePatch<O extends FerryObject>(kind: FerryKind, namespace: string, name: string, patch: Record<string, unknown>): Promise<O>;
  delete(kind: FerryKind, namespace: string, name: string): Promise<void>;

  getPod(namespace: string, name: string): Promise<V1Pod | undefined>;
  listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]>;
  getClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined>;
  listClaims(namespace: string): Promise<V1PersistentVolumeClaim[]>;
  getPersistentVolume(name: string): Promise<V1PersistentVolume | undefined>;
  getSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  /** Creates the Secret unless one of that name exists; returns whichever is stored. */
  createSecretOrGet(secret: V1Secret): Promise<V1Secret>;
  /** Records an Event; failing to record one never fails the caller. */
  event(options: EventOptions, clock: Clock): Promise<void>;

  watch(onEvent: (e: ClusterEvent) => void): ClusterWatch;
  /** Runs a command in a pod's container (hooks, backup commands). */
  exec(options: ExecOptions): Promise<ExecResult>;
  /** A bearer token's user, or undefined when the token is not valid. */
  authenticate(token: string): Promise<UserIdentity | undefined>;
  /** May this user do this (SubjectAccessReview semantics)? */
  authorize(request: AccessRequest): Promise<{ allowed: boolean; reason?: string }>;
  /**
   * In-process pod admission. Kubernetes calls the webhook server instead and this returns
   * false; a local cluster runs `admit` on every new pod manifest and returns true.
   */
  registerPodAdmission(admit: PodAdmission): boolean;
}

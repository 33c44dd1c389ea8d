/**
 * ClusterState for standalone mode (one machine, no Kubernetes): objects live in a state
 * directory (LocalObjectStore), pods and their inputs come from a manifests folder, a
 * LocalKubelet lays out their volumes under the pods dir and runs restore-wait as a
 * process, exec runs commands as local processes in the pod's directory, and Events go
 * to a JSON-lines file. The same controllers run over this as over Kubernetes.
 *
 * Security: there is no TokenReview here, so bearer tokens are refused; API callers
 * authenticate with client certificates, and any certificate the API's CA signed is
 * allowed everything (one machine, one operator). The state directory holds the cluster
 * key and credentials: it is created 0700 and its files 0600.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1PodStatus, V1Secret } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, CRD_DEFINITIONS, validate } from '@ferry/api';
import type { Logger } from '@ferry/log';
import type { Clock } from '../clock.js';
import { CoordinatorError, messageOf } from '../errors.js';
import { FERRY_KINDS, type AccessRequest, type ClusterEvent, type ClusterState, type ClusterWatch, type EventOptions, type ExecOptions, type ExecResult, type FerryKind, type FerryObject, type PodAdmission, type UserIdentity, type WatchedKind } from './cluster-state.js';
import { RESTORED_POD_LABEL } from './labels.js';
import { LocalKubelet } from './local-kubelet.js';
import { readManifests, type Manifest } from './local-manifests.js';
import { LocalApiError, LocalObjectStore, type StoreChange, type StoredObject } from './local-store.js';

export interface LocalClusterStateOptions {
  /** Objects, Secrets, Events; created 0700. */
  readonly stateDir: string;
  /** Pod, Secret, PVC/PV and Ferry resource manifests (YAML or JSON), re-read every poll. */
  readonly manifestsDir: string;
  /** Where pod volumes are laid out like the kubelet's (the agent's --pods-dir). */
  readonly podsDir: string;
  /** The one node; pods without spec.nodeName run here. */
  readonly nodeName: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** How often the manifests folder is read. Default 1 s. */
  readonly pollIntervalMs?: number;
}

const INPUT_KINDS = new Set(['Secret', 'PersistentVolumeClaim', 'PersistentVolume']);
const CREATE_ONCE_KINDS = new Set<string>(['Backup', 'Restore', 'BackupLocation', 'BackupSchedule', 'BackupRepository']);
const CLUSTER_SCOPED = new Set(['BackupLocation', 'PersistentVolume']);

export class LocalClusterState implements ClusterState {
  readonly mode = 'local' as const;
  private readonly store: LocalObjectStore;
  private readonly kubelet: LocalKubelet;
  private readonly watchers = new Set<(e: ClusterEvent) => void>();
  private admit?: PodAdmission;
  private applied: Record<string, string> = {};
  private timer?: NodeJS.Timeout;
  private syncing?: Promise<void>;

  constructor(private readonly o: LocalClusterStateOptions) {
    mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    this.store = new LocalObjectStore({ dir: join(o.stateDir, 'objects'), clock: o.clock, clusterScoped: CLUSTER_SCOPED, onChange: (kind, change, obj) => this.changed(kind, change, obj) });
    this.kubelet = new LocalKubelet({ podsDir: o.podsDir, clock: o.clock, log: o.log.child({ component: 'local-kubelet' }), setStatus: (pod, status) => this.setPodStatus(pod, status) });
  }

  /** Loads persisted state and reads the manifests once; then polls them until `close`. */
  async open(): Promise<void> {
    this.store.load();
    this.applied = this.readApplied();
    mkdirSync(this.o.podsDir, { recursive: true });
    // A pod whose init container (restore-wait) ran when the coordinator stopped starts it again: it only waits for markers.
    for (const pod of this.store.list('Pod') as V1Pod[]) if (pod.status?.phase === 'Pending') this.kubelet.start(pod);
    await this.syncManifests();
    this.timer = setInterval(() => void this.syncManifests(), this.o.pollIntervalMs ?? 1000);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
    this.kubelet.stopAll();
  }

  /** Reads the manifests now (the poll does this too); resolves once they are applied. */
  syncManifests(): Promise<void> {
    this.syncing ??= this.applyManifests().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  // ------------------------------------------------------------ Ferry resources

  async get<O extends FerryObject>(kind: FerryKind, namespace: string, name: string): Promise<O | undefined> {
    return this.store.get(kind, namespace, name) as O | undefined;
  }

  async list<O extends FerryObject>(kind: FerryKind, namespace?: string, labelSelector?: string): Promise<O[]> {
    return this.store.list(kind, namespace, labelSelector) as unknown as O[];
  }

  async createOrGet<O extends FerryObject>(kind: FerryKind, body: O): Promise<O> {
    checkSchema(kind, body);
    try {
      return this.store.create(kind, { ...body, apiVersion: `${API_GROUP}/${API_VERSION}` } as unknown as StoredObject) as unknown as O;
    } catch (err) {
      if (!(err instanceof LocalApiError) || err.code !== 409) throw err;
      return this.store.get(kind, body.metadata.namespace ?? '', body.metadata.name ?? '') as unknown as O;
    }
  }

  async replaceStatus<O extends FerryObject>(kind: FerryKind, obj: O, status: unknown): Promise<O> {
    return this.store.replaceStatus(kind, obj.metadata.namespace ?? '', obj.metadata.name ?? '', obj.metadata.resourceVersion, status) as unknown as O;
  }

  async mergePatch<O extends FerryObject>(kind: FerryKind, namespace: string, name: string, patch: Record<string, unknown>): Promise<O> {
    return this.store.mergePatch(kind, namespace, name, patch) as unknown as O;
  }

  async delete(kind: FerryKind, namespace: string, name: string): Promise<void> {
    this.store.delete(kind, namespace, name);
  }

  // ------------------------------------------------------------ pods and their inputs

  async getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    return this.store.get('Pod', namespace, name) as V1Pod | undefined;
  }

  async listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    return this.store.list('Pod', namespace, labelSelector) as V1Pod[];
  }

  async getClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined> {
    return this.store.get('PersistentVolumeClaim', namespace, name) as V1PersistentVolumeClaim | undefined;
  }

  async listClaims(namespace: string): Promise<V1PersistentVolumeClaim[]> {
    return this.store.list('PersistentVolumeClaim', namespace) as V1PersistentVolumeClaim[];
  }

  async getPersistentVolume(name: string): Promise<V1PersistentVolume | undefined> {
    return this.store.get('PersistentVolume', '', name) as V1PersistentVolume | undefined;
  }

  async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return this.store.get('Secret', namespace, name) as V1Secret | undefined;
  }

  async createSecretOrGet(secret: V1Secret): Promise<V1Secret> {
    const namespace = secret.metadata?.namespace ?? '';
    const existing = this.store.get('Secret', namespace, secret.metadata?.name ?? '');
    if (existing) return existing as V1Secret;
    return this.store.create('Secret', { ...secret, metadata: { ...secret.metadata } } as StoredObject) as V1Secret;
  }

  async event(options: EventOptions, clock: Clock): Promise<void> {
    const { involved } = options;
    const record = { time: new Date(clock.now()).toISOString(), type: options.type, reason: options.reason, object: `${involved.kind}/${involved.namespace}/${involved.name}`, message: options.message.slice(0, 1024) };
    try {
      appendFileSync(join(this.o.stateDir, 'events.jsonl'), `${JSON.stringify(record)}\n`, { mode: 0o600 });
    } catch (err) {
      this.o.log.warn('recording an event failed', { error: messageOf(err) });
    }
  }

  // ------------------------------------------------------------ watch, exec, auth, admission

  watch(onEvent: (e: ClusterEvent) => void): ClusterWatch {
    const store = this.store;
    const watchers = this.watchers;
    return {
      start: async () => {
        watchers.add(onEvent);
        for (const kind of WATCHED) for (const o of listWatched(store, kind)) onEvent({ kind, type: 'add', object: o });
      },
      list: <T>(kind: WatchedKind) => listWatched(store, kind) as T[],
      stop: async () => void watchers.delete(onEvent),
    };
  }

  exec(o: ExecOptions): Promise<ExecResult> {
    const pod = this.store.get('Pod', o.namespace, o.pod) as V1Pod | undefined;
    if (!pod) return Promise.resolve({ exitCode: -1, message: `pod ${o.namespace}/${o.pod} not found` });
    if (!(pod.spec?.containers ?? []).some((c) => c.name === o.container)) return Promise.resolve({ exitCode: -1, message: `pod ${o.namespace}/${o.pod} has no container ${o.container}` });
    return runLocal(o, { cwd: this.kubelet.podDir(pod), env: { ...process.env, POD_NAME: o.pod, POD_NAMESPACE: o.namespace, CONTAINER_NAME: o.container } });
  }

  async authenticate(): Promise<UserIdentity | undefined> {
    return undefined;
  }

  async authorize(_request: AccessRequest): Promise<{ allowed: boolean; reason?: string }> {
    return { allowed: true, reason: 'standalone mode: every authenticated client is the operator' };
  }

  registerPodAdmission(admit: PodAdmission): boolean {
    this.admit = admit;
    return true;
  }

  // ------------------------------------------------------------ internals

  private changed(kind: string, change: StoreChange, obj: StoredObject): void {
    if (!(WATCHED as readonly string[]).includes(kind)) return;
    if (kind === 'Pod' && obj.metadata.labels?.[RESTORED_POD_LABEL] === undefined) return;
    for (const w of this.watchers) w({ kind: kind as WatchedKind, type: change, object: obj });
  }

  private setPodStatus(pod: V1Pod, status: V1PodStatus): void {
    const current = this.store.get('Pod', pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    if (!current || current.metadata.uid !== pod.metadata?.uid) return;
    this.store.replaceStatus('Pod', current.metadata.namespace ?? '', current.metadata.name ?? '', undefined, status);
  }

  private async applyManifests(): Promise<void> {
    const { manifests, problems } = readManifests(this.o.manifestsDir);
    for (const p of problems) this.o.log.warn('manifest skipped', { file: p.file, problem: p.message });
    const pods = new Set<string>();
    for (const m of manifests) {
      try {
        if (m.kind === 'Pod') pods.add(`${m.namespace}/${m.name}`);
        await this.applyOne(m);
      } catch (err) {
        this.o.log.warn('manifest not applied', { file: m.file, object: `${m.kind}/${m.namespace}/${m.name}`, error: messageOf(err) });
      }
    }
    for (const pod of this.store.list('Pod')) {
      if (!pods.has(`${pod.metadata.namespace}/${pod.metadata.name}`)) this.deletePod(pod as V1Pod);
    }
    this.writeApplied();
  }

  private async applyOne(m: Manifest): Promise<void> {
    const key = `${m.kind}/${m.namespace}/${m.name}`;
    if (m.kind === 'Pod') {
      if (!this.store.get('Pod', m.namespace, m.name)) await this.createPod(m);
      return;
    }
    if (this.applied[key] === m.digest) return;
    if (INPUT_KINDS.has(m.kind)) {
      this.store.delete(m.kind, m.namespace, m.name);
      this.store.create(m.kind, withNamespace(m));
    } else if (CREATE_ONCE_KINDS.has(m.kind)) {
      await this.createOrGet(m.kind as FerryKind, withNamespace(m) as unknown as FerryObject);
    } else if (m.kind !== 'Namespace') {
      this.o.log.warn('manifest kind not used in standalone mode', { file: m.file, kind: m.kind });
    }
    this.applied[key] = m.digest;
  }

  private async createPod(m: Manifest): Promise<void> {
    const body = withNamespace(m) as unknown as V1Pod;
    body.spec = { containers: [], ...body.spec, nodeName: body.spec?.nodeName ?? this.o.nodeName };
    const admitted = this.admit ? await this.admit(body, m.namespace) : body;
    const created = this.store.create('Pod', admitted as StoredObject) as V1Pod;
    this.o.log.info('pod created from manifest', { pod: `${m.namespace}/${m.name}`, uid: created.metadata?.uid, file: m.file });
    this.kubelet.start(created);
  }

  private deletePod(pod: V1Pod): void {
    this.kubelet.stop(pod);
    this.store.delete('Pod', pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    this.o.log.info('pod deleted (its manifest is gone)', { pod: `${pod.metadata?.namespace}/${pod.metadata?.name}` });
  }

  private readApplied(): Record<string, string> {
    try {
      return JSON.parse(readFileSync(join(this.o.stateDir, 'applied.json'), 'utf8')) as Record<string, string>;
    } catch {
      return {};
    }
  }

  private writeApplied(): void {
    writeFileSync(join(this.o.stateDir, 'applied.json'), JSON.stringify(this.applied, null, 1), { mode: 0o600 });
  }
}

const WATCHED: readonly WatchedKind[] = ['Backup', 'PodVolumeBackup', 'Restore', 'PodVolumeRestore', 'BackupSchedule', 'BackupRepository', 'Pod'];

function listWatched(store: LocalObjectStore, kind: WatchedKind): StoredObject[] {
  return kind === 'Pod' ? store.list('Pod', undefined, RESTORED_POD_LABEL) : store.list(kind);
}

function withNamespace(m: Manifest): StoredObject {
  const metadata = CLUSTER_SCOPED.has(m.kind) ? { ...m.body.metadata } : { ...m.body.metadata, namespace: m.namespace };
  const obj = { ...m.body, metadata } as StoredObject;
  return m.kind === 'Secret' ? withSecretData(obj) : obj;
}

/** The API server folds a Secret's write-only stringData into data (base64); so do we. */
function withSecretData(secret: StoredObject): StoredObject {
  const { stringData, ...rest } = secret as StoredObject & { stringData?: Record<string, string>; data?: Record<string, string> };
  if (!stringData) return secret;
  const encoded = Object.fromEntries(Object.entries(stringData).map(([k, v]) => [k, Buffer.from(String(v), 'utf8').toString('base64')]));
  return { ...rest, data: { ...(rest.data as Record<string, string> | undefined), ...encoded } };
}

/** The API server validates custom resources against their CRD schema; so does the local store. */
function checkSchema(kind: FerryKind, body: FerryObject): void {
  const crd = CRD_DEFINITIONS.find((d) => d.kind === kind);
  if (!crd) return;
  const problems = validate(crd.spec, body.spec, 'spec');
  if (problems.length > 0) throw new CoordinatorError('InvalidArgument', `${kind} ${body.metadata.namespace ?? ''}/${body.metadata.name ?? ''} is invalid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
}

/** A command as a local process; stdout piped with back-pressure, exit code as the container's. */
function runLocal(o: ExecOptions, spawnOptions: { cwd: string; env: NodeJS.ProcessEnv }): Promise<ExecResult> {
  const [command = '', ...args] = o.command;
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'], ...(o.signal ? { signal: o.signal } : {}) });
    child.stdout.pipe(o.stdout, { end: false });
    if (o.stderr) child.stderr.pipe(o.stderr, { end: false });
    else child.stderr.resume();
    child.on('error', (err) => resolve({ exitCode: -1, message: `running ${command} failed: ${err.message}` }));
    child.on('close', (code, signal) => resolve(code === null ? { exitCode: -1, message: `killed by ${signal ?? 'a signal'}` } : { exitCode: code, ...(code !== 0 ? { message: `exited with ${code}` } : {}) }));
  });
}

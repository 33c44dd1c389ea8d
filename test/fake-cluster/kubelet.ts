/**
 * FAKE kubelet (test support, never shipped). One per fake node: registers its Node,
 * watches the pods bound to it (fieldSelector spec.nodeName) through client-node, lays out
 * their volume directories (kubelet-volumes.ts), runs their init containers as real local
 * processes through `initContainerRunner`, and reports status through pods/status:
 * Pending → init containers running → Running, or Failed when an init container exits
 * non-zero. Main containers are not run; they are reported running once init is done.
 * It also finishes graceful pod deletion: parks PV data, removes the pod dir, deletes with grace 0.
 * With `streaming` it serves exec for the real API server (kubelet-streaming.ts): the command
 * runs as a local process in the pod's fake root, `<podsDir>/<podUID>/rootfs`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, ListWatch, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1Container, V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import { ApiError, badRequest } from './errors.js';
import type { ExecTarget } from './exec.js';
import { layoutVolumes, teardownVolumes } from './kubelet-volumes.js';
import type { VolumeLayout } from './kubelet-volumes.js';
import { KubeletStreamingServer, type KubeletExec, type KubeletTls } from './kubelet-streaming.js';

export interface InitContainerRun {
  pod: V1Pod;
  container: V1Container;
  /** Container mountPath → directory on this machine. */
  mounts: Record<string, string>;
  podDir: string;
  signal: AbortSignal;
}

export interface InitContainerResult {
  exitCode: number;
  message?: string;
}

export type InitContainerRunner = (run: InitContainerRun) => Promise<InitContainerResult>;

export interface FakeKubeletOptions {
  nodeName: string;
  kubeConfig: KubeConfig;
  /** Root of the node's pod directories (`<podsDir>/<podUID>/volumes/...`). */
  podsDir: string;
  /** Shared by all fake kubelets of a cluster: where PV data waits between pods. */
  pvStorageDir: string;
  initContainerRunner?: InitContainerRunner;
  hostIP?: string;
  labels?: Record<string, string>;
  /** Serve exec on a streaming port the Node advertises (for a real kube-apiserver). */
  streaming?: {
    tls: KubeletTls;
    /** Changes to a run (env, a cut stream) by pod; the cwd is the pod's fake root. */
    target?: (r: KubeletExec & { rootDir: string }) => Partial<ExecTarget>;
  };
}

interface PodState {
  pod?: V1Pod;
  running?: boolean;
  abort: AbortController;
  layout?: VolumeLayout;
  work: Promise<void>;
}

/** Maps each volumeMount of `c` to its directory (with subPath). */
export function mountMap(c: V1Container, dirs: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of c.volumeMounts ?? []) {
    const dir = dirs.get(m.name);
    if (dir) out[m.mountPath] = m.subPath ? join(dir, m.subPath) : dir;
  }
  return out;
}

/** Default runner: `node <command...> <args...>` with FERRY_MOUNT_MAP; no command exits 0 at once. */
export const runWithNode: InitContainerRunner = (r) => {
  const argv = [...(r.container.command ?? []), ...(r.container.args ?? [])];
  if (argv.length === 0) return Promise.resolve({ exitCode: 0 });
  const env: Record<string, string> = { ...(process.env as Record<string, string>), FERRY_MOUNT_MAP: JSON.stringify(r.mounts) };
  for (const e of r.container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { cwd: r.podDir, env, stdio: ['ignore', 'inherit', 'pipe'], signal: r.signal });
    let tail = '';
    child.stderr!.on('data', (c: Buffer) => (tail = (tail + c.toString()).slice(-1024)));
    child.on('error', (err) => resolve({ exitCode: 128, message: err.message }));
    child.on('close', (code) => resolve({ exitCode: code ?? 137, ...(tail ? { message: tail } : {}) }));
  });
};

function now(): Date {
  return new Date();
}

function condition(type: string, ok: boolean, reason?: string): V1PodCondition {
  return { type, status: ok ? 'True' : 'False', lastTransitionTime: now(), ...(reason && !ok ? { reason } : {}) };
}

function waiting(c: V1Container, reason: string): V1ContainerStatus {
  return { name: c.name, image: c.image ?? '', imageID: '', ready: false, restartCount: 0, started: false, state: { waiting: { reason } } };
}

export class FakeKubelet {
  private readonly core: CoreV1Api;
  private readonly pods = new Map<string, PodState>();
  private readonly informer: ListWatch<V1Pod>;
  private ipCounter = 1;
  private stopped = false;
  private streaming: KubeletStreamingServer | undefined;
  readonly hostIP: string;

  private constructor(private readonly o: FakeKubeletOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.hostIP = o.hostIP ?? '127.0.0.1';
    const selector = `spec.nodeName=${o.nodeName}`;
    const list = () => this.core.listPodForAllNamespaces({ fieldSelector: selector });
    this.informer = new ListWatch<V1Pod>('/api/v1/pods', new Watch(o.kubeConfig), list, false, undefined, selector);
    this.informer.on('add', (p) => this.onPod(p));
    this.informer.on('update', (p) => this.onPod(p));
    // A failed list/watch stops a ListWatch for good; a kubelet keeps trying, as the real one does.
    this.informer.on('error', () => setTimeout(() => {
      if (!this.stopped) void this.informer.start().catch(() => undefined);
    }, 200));
  }

  static async start(o: FakeKubeletOptions): Promise<FakeKubelet> {
    const k = new FakeKubelet(o);
    if (o.streaming) k.streaming = await KubeletStreamingServer.start({ tls: o.streaming.tls, resolve: (r) => k.execTarget(r) });
    await k.registerNode();
    await mkdir(o.podsDir, { recursive: true });
    await k.informer.start();
    return k;
  }

  get nodeName(): string {
    return this.o.nodeName;
  }

  podDir(podUid: string): string {
    return join(this.o.podsDir, podUid);
  }

  /** Volume name → directory for a pod this kubelet has started. */
  volumeDirs(podUid: string): Map<string, string> | undefined {
    return this.pods.get(podUid)?.layout?.dirs;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer.stop();
    for (const s of this.pods.values()) s.abort.abort();
    await Promise.all([...this.pods.values()].map((s) => s.work.catch(() => undefined)));
    await this.streaming?.stop();
  }

  /** A pod's fake root: the working directory of what runs "in" its containers. */
  rootDir(podUid: string): string {
    return join(this.podDir(podUid), 'rootfs');
  }

  /** Where an exec the API server forwarded runs; refused like a kubelet for a pod not running here. */
  private async execTarget(r: KubeletExec): Promise<ExecTarget> {
    const s = [...this.pods.values()].find((p) => p.pod?.metadata?.namespace === r.namespace && p.pod.metadata.name === r.pod && !p.abort.signal.aborted);
    if (!s?.pod) throw new ApiError(404, 'NotFound', `pod ${r.namespace}/${r.pod} is not on node ${this.o.nodeName}`, {});
    if (!s.running) throw badRequest(`container ${r.container} of pod ${r.namespace}/${r.pod} is not running yet`);
    if (!(s.pod.spec?.containers ?? []).some((c) => c.name === r.container)) throw badRequest(`container ${r.container} is not valid for pod ${r.pod}`);
    const rootDir = this.rootDir(s.pod.metadata!.uid!);
    await mkdir(rootDir, { recursive: true });
    return { cwd: rootDir, ...this.o.streaming?.target?.({ ...r, rootDir }) };
  }

  private async registerNode(): Promise<void> {
    const name = this.o.nodeName;
    const labels = { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...this.o.labels };
    await this.core.createNode({ body: { metadata: { name, labels } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
    const status = {
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'fake kubelet is posting ready status' }],
      addresses: [{ type: 'InternalIP', address: this.hostIP }, { type: 'Hostname', address: name }],
      // The API server dials this port for exec and, with the feature declared, proxies the WebSocket as is.
      ...(this.streaming ? { daemonEndpoints: { kubeletEndpoint: { Port: this.streaming.port } }, declaredFeatures: ['ExtendWebSocketsToKubelet'] } : {}),
    };
    await this.core.patchNodeStatus({ name, body: [{ op: 'replace', path: '/status', value: status }] });
  }

  private onPod(pod: V1Pod): void {
    const uid = pod.metadata!.uid!;
    const state = this.pods.get(uid);
    if (pod.metadata?.deletionTimestamp) {
      if (state?.abort.signal.aborted) return;
      const s = state ?? { abort: new AbortController(), work: Promise.resolve() };
      s.abort.abort();
      s.work = s.work.catch(() => undefined).then(() => this.finishDeletion(pod, s));
      this.pods.set(uid, s);
      return;
    }
    if (state || pod.status?.phase !== 'Pending') return;
    const s: PodState = { pod, abort: new AbortController(), work: Promise.resolve() };
    this.pods.set(uid, s);
    s.work = this.startPod(pod, s).catch(() => undefined);
  }

  private async finishDeletion(pod: V1Pod, s: PodState): Promise<void> {
    await teardownVolumes(s.layout, this.podDir(pod.metadata!.uid!), this.o.pvStorageDir);
    const preconditions = { uid: pod.metadata!.uid! };
    // With a DeleteOptions body the real API server ignores the query's gracePeriodSeconds: say it in the body.
    await this.core.deleteNamespacedPod({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions } }).catch(() => undefined);
  }

  private podIP(): string {
    const third = createHash('sha1').update(this.o.nodeName).digest()[0]!;
    return `10.244.${third}.${this.ipCounter++ % 250 + 2}`;
  }

  private async startPod(pod: V1Pod, s: PodState): Promise<void> {
    const dir = this.podDir(pod.metadata!.uid!);
    s.layout = await layoutVolumes(this.core, pod, dir, this.o.pvStorageDir, s.abort.signal);
    const inits = pod.spec?.initContainers ?? [];
    const ip = this.podIP();
    const statuses = inits.map((c) => waiting(c, 'PodInitializing'));
    for (const [i, c] of inits.entries()) {
      statuses[i] = { ...statuses[i]!, state: { running: { startedAt: now() } }, started: true };
      await this.writeStatus(pod, this.initStatus(pod, ip, statuses));
      const result = await this.runInit(pod, c, s, dir);
      if (s.abort.signal.aborted) return;
      const terminated = { exitCode: result.exitCode, reason: result.exitCode === 0 ? 'Completed' : 'Error', startedAt: statuses[i]!.state!.running!.startedAt, finishedAt: now(), ...(result.message ? { message: result.message } : {}) };
      statuses[i] = { ...statuses[i]!, ready: result.exitCode === 0, started: false, state: { terminated } };
      if (result.exitCode !== 0) return this.writeStatus(pod, this.failedStatus(pod, ip, statuses));
    }
    s.running = true;
    await this.writeStatus(pod, this.runningStatus(pod, ip, statuses));
  }

  private runInit(pod: V1Pod, c: V1Container, s: PodState, podDir: string): Promise<InitContainerResult> {
    const runner = this.o.initContainerRunner ?? runWithNode;
    return runner({ pod, container: c, mounts: mountMap(c, s.layout!.dirs), podDir, signal: s.abort.signal });
  }

  private baseStatus(pod: V1Pod, ip: string, phase: string): V1PodStatus {
    return { phase, hostIP: this.hostIP, hostIPs: [{ ip: this.hostIP }], podIP: ip, podIPs: [{ ip }], startTime: now(), qosClass: pod.status?.qosClass ?? 'BestEffort' };
  }

  private initStatus(pod: V1Pod, ip: string, inits: V1ContainerStatus[]): V1PodStatus {
    const conditions = [condition('PodReadyToStartContainers', true), condition('Initialized', false, 'ContainersNotInitialized'), condition('Ready', false, 'ContainersNotReady'), condition('ContainersReady', false, 'ContainersNotReady'), condition('PodScheduled', true)];
    const containerStatuses = (pod.spec?.containers ?? []).map((c) => waiting(c, 'PodInitializing'));
    return { ...this.baseStatus(pod, ip, 'Pending'), conditions, initContainerStatuses: inits, containerStatuses };
  }

  private failedStatus(pod: V1Pod, ip: string, inits: V1ContainerStatus[]): V1PodStatus {
    const base = this.initStatus(pod, ip, inits);
    return { ...base, phase: 'Failed', reason: 'InitContainerFailed', message: 'an init container exited non-zero (fake kubelet does not restart init containers)' };
  }

  private runningStatus(pod: V1Pod, ip: string, inits: V1ContainerStatus[]): V1PodStatus {
    const conditions = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((t) => condition(t, true));
    const containerStatuses = (pod.spec?.containers ?? []).map((c): V1ContainerStatus => ({ name: c.name, image: c.image ?? '', imageID: '', containerID: `fake://${pod.metadata!.uid}/${c.name}`, ready: true, started: true, restartCount: 0, state: { running: { startedAt: now() } } }));
    return { ...this.baseStatus(pod, ip, 'Running'), conditions, initContainerStatuses: inits, containerStatuses };
  }

  private async writeStatus(pod: V1Pod, status: V1PodStatus): Promise<void> {
    const ns = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    // The uid test keeps a late write from landing on a new pod that reuses the name.
    const body = [{ op: 'test', path: '/metadata/uid', value: pod.metadata!.uid }, { op: 'replace', path: '/status', value: status }];
    await this.core.patchNamespacedPodStatus({ namespace: ns, name, body }).catch((e: { code?: number }) => {
      if (e.code !== 404 && e.code !== 422) throw e;
    });
  }
}

/**
 * Test support (not product): one whole cluster for end-to-end tests — an API server,
 * fake kubelets and scheduler, the restore webhook registered, a real coordinator process
 * and one real agent process per node over mutual TLS, and a BackupLocation on the run's
 * RGW (its own prefix, so several clusters can share one bucket). Also the volume helpers
 * the tests compare data with.
 *
 * The API server is the real kube-apiserver with etcd and kube-controller-manager
 * (test/kube) unless a test asks for the fake one (`apiServer: 'fake'`). On the real one the
 * fake kubelets serve exec on a streaming port their Nodes advertise, and the
 * fixture installs what deploy/ ships (CRDs, RBAC, the webhook) and the coordinator runs
 * with a token of its own ServiceAccount, so every verb it uses must be granted by the
 * shipped RBAC; test users are static tokens whose rights are RoleBindings.
 */
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod, type V1PodTemplateSpec } from '@kubernetes/client-node';
import { createFakeStorageClasses, createStatefulSetPods, FakeApiServer, FakeProvisioner, FakeKubelet, FakeScheduler, FakeSnapshotter, generateTls, type ExecTarget, type KubeletExec, type PolicyRule, type TokenEntry } from '../fake-cluster/index.js';
import { ControlPlane } from '../kube/control-plane.js';
import { coordinatorKubeConfigYaml, installFerry, installSnapshotCrds } from '../kube/install.js';
import { grantRules } from '../kube/rbac.js';
import { createTestBucket, type TestBucket } from '../support/s3.js';
import { connect } from 'node:net';
import { AGENT_MAIN, COORDINATOR_MAIN, coordinatorArgs, freePort, makeHubCerts, restoreWaitRunner, startNode, stopProc, waitFor, type HubCerts, type Proc } from './processes.fixture.js';

export const SYS = 'ferry-system';
const group = { group: 'ferry.dev', version: 'v1alpha1' };

export interface Cr {
  metadata: { name: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, any>;
  status?: Record<string, any>;
}

export interface E2eClusterOptions {
  /** A directory of its own (certs, pods, logs). */
  readonly root: string;
  readonly nodes: readonly string[];
  readonly namespaces: readonly string[];
  readonly bucket: TestBucket;
  /** The BackupLocation `rgw` (default) writes under this key prefix of the bucket. */
  readonly prefix: string;
  /** More coordinator flags. */
  readonly coordinatorArgs?: readonly string[];
  /** Bearer tokens of test users and their rights (RBAC on the real server; TokenReview and SubjectAccessReview answer API callers). */
  readonly auth?: { readonly tokens?: Readonly<Record<string, TokenEntry>>; readonly policy?: readonly PolicyRule[] };
  /** `real` (default): kube-apiserver + etcd; `fake`: test/fake-cluster. */
  readonly apiServer?: 'real' | 'fake';
  /** More kube-apiserver flags (the real server only). */
  readonly apiServerArgs?: readonly string[];
  /** The URL the coordinator reaches the real API server at, given the server's (a proxy in front of it); default: the server's. */
  readonly coordinatorServer?: (apiServerUrl: string) => Promise<string>;
  /** Install the VolumeSnapshot CRDs (real server only) and run the fake snapshot controller + provisioner. */
  readonly snapshots?: { readonly readyDelayMs?: number; readonly keepDeletedCopies?: boolean };
  /** Changes to an exec run by the real server's kubelets (a cut stream, env); it runs in the pod's fake root. */
  readonly execTarget?: (r: KubeletExec & { rootDir: string }) => Partial<ExecTarget>;
  /** Run the fake PVC provisioner with its two storage classes (real API server only). */
  readonly provisioner?: boolean;
}

/** The API server behind a test cluster, and how the coordinator reaches it. */
interface ApiBackend {
  readonly adminKubeConfig: KubeConfig;
  /** The kubeconfig the coordinator runs with. */
  readonly coordinatorKubeConfig: string;
  readonly fake: FakeApiServer | undefined;
  readonly real: ControlPlane | undefined;
  stop(): Promise<void>;
}

interface WebhookTarget {
  readonly url: string;
  readonly caPem: string;
}

async function fakeBackend(o: E2eClusterOptions, webhook: WebhookTarget): Promise<ApiBackend> {
  const tokens = Object.fromEntries(Object.entries(o.auth?.tokens ?? {}).map(([token, u]) => [token, { ...u }]));
  const api = await FakeApiServer.start({ bookmarkIntervalMs: 500, tokens, policy: [...(o.auth?.policy ?? [])] });
  api.registerMutatingWebhook({ name: 'restore-wait.ferry.dev', url: webhook.url, caBundle: Buffer.from(webhook.caPem).toString('base64'), rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }], failurePolicy: 'Ignore', timeoutSeconds: 5 });
  const kc = api.kubeConfig();
  return { adminKubeConfig: kc, coordinatorKubeConfig: kc.exportConfig(), fake: api, real: undefined, stop: () => api.stop() };
}

async function realBackend(o: E2eClusterOptions, webhook: WebhookTarget): Promise<ApiBackend> {
  const cp = await ControlPlane.start({ root: o.root, tokens: o.auth?.tokens ?? {}, ...(o.apiServerArgs ? { apiServerArgs: o.apiServerArgs } : {}) });
  try {
    const kc = cp.adminKubeConfig();
    await installFerry(cp, { webhook });
    if (o.snapshots) await installSnapshotCrds(cp);
    await grantRules(kc, o.auth?.policy ?? []);
    const server = o.coordinatorServer ? await o.coordinatorServer(cp.url) : cp.url;
    return { adminKubeConfig: kc, coordinatorKubeConfig: await coordinatorKubeConfigYaml(cp, server), fake: undefined, real: cp, stop: () => cp.stop() };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

export class E2eCluster {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  coordinator: Proc | undefined;
  readonly agents = new Map<string, Proc>();
  private readonly kubelets = new Map<string, FakeKubelet>();
  private scheduler: FakeScheduler | undefined;
  /** The fake CSI snapshot controller, when the cluster was started with `snapshots`. */
  snapshotter: FakeSnapshotter | undefined;
  provisioner: FakeProvisioner | undefined;

  private constructor(
    readonly o: E2eClusterOptions,
    private readonly backend: ApiBackend,
    readonly kc: KubeConfig,
    private readonly certs: HubCerts,
    readonly ports: { readonly hub: number; readonly webhook: number; readonly api: number },
    private readonly webhookDir: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  static async start(o: E2eClusterOptions): Promise<E2eCluster> {
    await mkdir(join(o.root, 'certs'), { recursive: true });
    const certs = makeHubCerts(join(o.root, 'certs'), o.nodes);
    const webhookTls = await generateTls();
    const ports = { hub: await freePort(), webhook: await freePort(), api: await freePort() };
    // deploy/base/webhook.yaml's path; the real server calls exactly what the manifest says.
    const webhook = { url: `https://127.0.0.1:${ports.webhook}/mutate-v1-pod`, caPem: webhookTls.caPem };
    const backend = await ((o.apiServer ?? 'real') === 'real' ? realBackend(o, webhook) : fakeBackend(o, webhook));
    const c = new E2eCluster(o, backend, backend.adminKubeConfig, certs, ports, webhookTls.dir);
    try {
      await c.setUp();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private async setUp(): Promise<void> {
    const o = this.o;
    const c = this;
    await writeFile(c.kubeconfigFile, this.backend.coordinatorKubeConfig, { mode: 0o600 });
    for (const ns of [SYS, ...o.namespaces]) await c.ensureNamespace(ns);
    const conn = o.bucket.connection;
    await c.core.createNamespacedSecret({ namespace: SYS, body: { metadata: { name: 'rgw-credentials' }, stringData: { accessKeyId: conn.accessKeyId, secretAccessKey: conn.secretAccessKey } } });
    await c.custom.createClusterCustomObject({ ...group, plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'rgw' }, spec: { default: true, s3: { bucket: o.bucket.bucket, endpoint: conn.endpoint, region: conn.region, prefix: o.prefix, forcePathStyle: true }, credentialsSecretRef: { name: 'rgw-credentials' } } } });
    const real = this.backend.real;
    const streaming = real ? { tls: real.kubeletTls(), ...(o.execTarget ? { target: o.execTarget } : {}) } : undefined;
    for (const node of o.nodes) {
      c.kubelets.set(node, await FakeKubelet.start({ nodeName: node, kubeConfig: c.kc, podsDir: c.podsDir(node), pvStorageDir: this.pvStorageDir, initContainerRunner: restoreWaitRunner, ...(streaming ? { streaming } : {}) }));
    }
    c.scheduler = await FakeScheduler.start({ kubeConfig: c.kc });
    if (o.snapshots) c.snapshotter = await FakeSnapshotter.start({ kubeConfig: c.kc, podsDirs: o.nodes.map((n) => c.podsDir(n)), pvStorageDir: this.pvStorageDir, storeDir: join(o.root, 'snapshot-store'), ...o.snapshots });
    if (o.provisioner && real) {
      await createFakeStorageClasses(c.kc);
      c.provisioner = await FakeProvisioner.start({ kubeConfig: c.kc, pvStorageDir: this.pvStorageDir });
    }
    c.startCoordinator();
    for (const node of o.nodes) c.startAgent(node);
    await c.coordinatorListening();
  }

  /** The fake API server, for tests that need what only it offers (exec handlers); throws on the real one. */
  get api(): FakeApiServer {
    if (!this.backend.fake) throw new Error('this test cluster runs the real kube-apiserver; start it with apiServer: \'fake\' for fake-only features');
    return this.backend.fake;
  }

  /** The real control plane, when the cluster runs on one. */
  get controlPlane(): ControlPlane | undefined {
    return this.backend.real;
  }

  /** What the real API server refused the coordinator's ServiceAccount (empty on the fake server). */
  async coordinatorRefusals(): Promise<string[]> {
    return (await this.backend.real?.forbidden(`system:serviceaccount:${SYS}:ferry-coordinator`)) ?? [];
  }

  private async ensureNamespace(name: string): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  }

  /** Resolves once the leader serves the AgentHub and the API (on a loaded machine that takes seconds). */
  async coordinatorListening(timeoutMs = 60_000): Promise<void> {
    for (const port of [this.ports.hub, this.ports.api]) await waitFor(() => accepts(port), timeoutMs, `the coordinator to listen on 127.0.0.1:${port}`);
  }

  /** The CA of the coordinator's serving certificate (AgentHub and the public API share it). */
  get caFile(): string {
    return this.certs.ca;
  }

  /** The public gRPC API (TLS, `localhost:<port>`). */
  get apiAddress(): string {
    return `localhost:${this.ports.api}`;
  }

  get kubeconfigFile(): string {
    return join(this.o.root, 'kubeconfig');
  }

  /** Every log file the cluster's processes write. */
  get logFiles(): string[] {
    return [join(this.o.root, 'coordinator.log'), ...this.o.nodes.map((n) => join(this.o.root, `agent-${n}.log`))];
  }

  /** Where PV data lives while no pod mounts it (the fake kubelets and provisioner share it). */
  get pvStorageDir(): string {
    return join(this.o.root, 'pv-storage');
  }

  podsDir(node: string): string {
    return join(this.o.root, node, 'pods');
  }

  startCoordinator(): Proc {
    const args = coordinatorArgs({ kubeconfigFile: this.kubeconfigFile, namespace: SYS, hubPort: this.ports.hub, certs: this.certs, webhook: { port: this.ports.webhook, dir: this.webhookDir }, extra: ['--api-listen', `127.0.0.1:${this.ports.api}`, ...(this.o.coordinatorArgs ?? [])] });
    this.coordinator = startNode(COORDINATOR_MAIN, args, join(this.o.root, 'coordinator.log'));
    return this.coordinator;
  }

  startAgent(node: string): Proc {
    const c = this.certs.client(node);
    const args = ['--node-name', node, '--coordinator', `localhost:${this.ports.hub}`, '--pods-dir', this.podsDir(node), '--tls-ca', this.certs.ca, '--tls-cert', c.cert, '--tls-key', c.key,
      '--cache-dir', join(this.o.root, node, 'cache'), '--listen', '127.0.0.1:0', '--heartbeat-interval', '1s', '--native-workers', '1', '--log-level', 'info'];
    const p = startNode(AGENT_MAIN, args, join(this.o.root, `agent-${node}.log`));
    this.agents.set(node, p);
    return p;
  }

  async stop(): Promise<void> {
    await stopProc(this.coordinator);
    for (const a of this.agents.values()) await stopProc(a);
    await this.scheduler?.stop();
    await this.snapshotter?.stop();
    await this.provisioner?.stop();
    for (const k of this.kubelets.values()) await k.stop();
    await this.backend.stop();
  }

  get(plural: string, name: string, ns: string): Promise<Cr> {
    return this.custom.getNamespacedCustomObject({ ...group, namespace: ns, plural, name }) as Promise<Cr>;
  }

  async list(plural: string, ns: string, labelSelector?: string): Promise<Cr[]> {
    return ((await this.custom.listNamespacedCustomObject({ ...group, namespace: ns, plural, ...(labelSelector ? { labelSelector } : {}) })) as { items: Cr[] }).items;
  }

  create(plural: string, body: Record<string, unknown>, ns: string): Promise<unknown> {
    return this.custom.createNamespacedCustomObject({ ...group, namespace: ns, plural, body: { apiVersion: 'ferry.dev/v1alpha1', ...body } });
  }

  /** On a timeout the error carries the object's last status and the tails of the process logs, since CI keeps nothing else. */
  async waitPhase(plural: string, name: string, ns: string, phases: readonly string[], timeoutMs: number): Promise<Cr> {
    let last: unknown;
    try {
      return await waitFor(async () => {
        const o = await this.get(plural, name, ns);
        last = o.status;
        return phases.includes(o.status?.phase) && o;
      }, timeoutMs, `${plural} ${ns}/${name} to reach ${phases.join('|')}`);
    } catch (err) {
      const tails = await Promise.all(this.logFiles.map(async (f) => `--- ${f} (last 40 lines)\n${(await readFile(f, 'utf8').catch(() => '')).split('\n').slice(-40).join('\n')}`));
      throw new Error(`${(err as Error).message}; last status ${JSON.stringify(last)}\n${tails.join('\n')}`, { cause: err });
    }
  }

  async runningPods(ns: string, count: number): Promise<V1Pod[]> {
    return waitFor(async () => {
      const pods = (await this.core.listNamespacedPod({ namespace: ns })).items.filter((p) => !p.metadata?.deletionTimestamp);
      return pods.length === count && pods.every((p) => p.status?.phase === 'Running') && pods;
    }, 60_000, `${count} running pods in ${ns}`);
  }

  /** The pod's fake root, where exec'd commands run (created here so a test can put files in first). */
  async rootDir(pod: V1Pod): Promise<string> {
    const dir = this.kubelets.get(pod.spec!.nodeName!)!.rootDir(pod.metadata!.uid!);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  volumeDir(pod: V1Pod, volume: string): string {
    const dir = this.kubelets.get(pod.spec!.nodeName!)!.volumeDirs(pod.metadata!.uid!)?.get(volume);
    if (!dir) throw new Error(`no directory for ${pod.metadata!.name}/${volume}`);
    return dir;
  }

  /** A StatefulSet `name` of one pod with an emptyDir `cache` and a claim template `data`, both opted in. */
  async createStatefulSet(ns: string, name: string): Promise<void> {
    const template: V1PodTemplateSpec = {
      metadata: { labels: { app: name }, annotations: { 'backup.ferry.dev/backup-volumes': 'cache,data' } },
      spec: { containers: [{ name: 'app', image: 'busybox:1.36' }], volumes: [{ name: 'cache', emptyDir: {} }] },
    };
    await createStatefulSetPods(this.kc, { namespace: ns, name, replicas: 1, template, volumeClaimTemplates: [{ name: 'data' }] });
  }
}

/**
 * A cluster in a temporary directory of its own on a bucket of its own, for a test file's
 * beforeAll; `disposeOwnedCluster` stops it and removes both (FERRY_E2E_KEEP keeps the directory).
 */
export async function startOwnedCluster(o: Omit<E2eClusterOptions, 'root' | 'bucket'> & { readonly name: string }): Promise<E2eCluster> {
  const root = await mkdtemp(join(tmpdir(), `ferry-e2e-${o.name}-`));
  const bucket = await createTestBucket({ namePrefix: `ferry-${o.name}` });
  try {
    return await E2eCluster.start({ ...o, root, bucket });
  } catch (err) {
    await bucket.cleanup().catch(() => undefined);
    if (process.env['FERRY_E2E_KEEP'] === undefined) await rm(root, { recursive: true, force: true });
    else console.error(`[e2e] ${o.name}: cluster failed to start; its files are kept in ${root}`);
    throw err;
  }
}

export async function disposeOwnedCluster(cluster: E2eCluster | undefined): Promise<void> {
  if (!cluster) return;
  const refused = await cluster.coordinatorRefusals();
  await cluster.stop();
  await cluster.o.bucket.cleanup().catch(() => undefined);
  if (process.env['FERRY_E2E_KEEP'] === undefined) await rm(cluster.o.root, { recursive: true, force: true });
  // Any call the shipped RBAC does not allow fails the file, even one the coordinator retried or swallowed.
  if (refused.length > 0) throw new Error(`the API server refused the coordinator (deploy/base/coordinator-rbac.yaml lacks these):\n${refused.join('\n')}`);
}

/** A few hundred small files per volume, with modes, times, a symlink and an empty directory. */
export async function fillVolume(dir: string, seed: string, files: number): Promise<void> {
  for (let d = 0; d < 10; d++) {
    await mkdir(join(dir, `d${d}`), { recursive: true });
    for (let f = 0; f < files / 10; f++) {
      const p = join(dir, `d${d}`, `f${f}.txt`);
      await writeFile(p, `${seed}-${d}-${f}-`.repeat(1 + ((d * 31 + f) % 40)));
      await chmod(p, f % 3 === 0 ? 0o600 : 0o644);
      await utimes(p, new Date(1_700_000_000_000 + f * 1000), new Date(1_700_000_000_000 + f * 1000));
    }
  }
  await writeFile(join(dir, 'big.bin'), createHash('sha256').update(seed).digest().toString('hex').repeat(30_000));
  await symlink('d0/f0.txt', join(dir, 'link'));
  await mkdir(join(dir, 'empty'));
}

/** path → type, mode, mtime, size and content hash (or link target); the restore markers left out. */
export async function volumeManifest(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(dir, prefix))).sort()) {
    if (name === '.ferry') continue;
    const rel = join(prefix, name);
    const st = await lstat(join(dir, rel));
    if (st.isSymbolicLink()) out[rel] = `link:${await readlink(join(dir, rel))}`;
    else if (st.isDirectory()) {
      out[rel] = `dir:${(st.mode & 0o7777).toString(8)}`;
      Object.assign(out, await volumeManifest(dir, rel));
    } else out[rel] = `file:${(st.mode & 0o7777).toString(8)}:${Math.floor(st.mtimeMs)}:${st.size}:${createHash('sha256').update(await readFile(join(dir, rel))).digest('hex')}`;
  }
  return out;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

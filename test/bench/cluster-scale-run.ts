/**
 * Bench support (not product): one scale run on the real kube-apiserver. Node objects and
 * annotated pods are created directly (no kubelet: the coordinator only reads pods), one
 * real coordinator process runs with its own ServiceAccount's token, simulated agents
 * (simulated-agents.ts) answer every assignment at once, and one Backup of every pod is
 * timed: until all its PodVolumeBackups exist (the Backup turns InProgress), until the agents
 * hold every assignment, and until it is Completed. The coordinator's API requests come from
 * the audit log, its peak RSS from /proc (VmHWM).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { COORDINATOR_MAIN, freePort, startNode, stopProc, waitFor, type Proc } from '../e2e/processes.fixture.js';
import { ControlPlane, type AuditEvent } from '../kube/control-plane.js';
import { coordinatorKubeConfigYaml, FERRY_NAMESPACE, installFerry } from '../kube/install.js';
import { SimulatedAgents } from './simulated-agents.js';

const NS = 'bench';
const COORDINATOR_USER = `system:serviceaccount:${FERRY_NAMESPACE}:ferry-coordinator`;
const group = { group: 'ferry.dev', version: 'v1alpha1' };

export interface ClusterScaleOptions {
  readonly pods: number;
  readonly nodes: number;
  /** Requests made at once while creating Nodes and pods. */
  readonly concurrency?: number;
  readonly log?: (line: string) => void;
}

export interface ClusterScaleResult {
  readonly pods: number;
  readonly nodes: number;
  /** From the Backup's creation until it is InProgress (every PodVolumeBackup created). */
  readonly acceptedMs: number;
  /** Until the agents received an Assign for every volume. */
  readonly assignedMs: number;
  readonly completedMs: number;
  /** Assignments an agent received twice (duplicate work; 0 expected). */
  readonly reassigned: number;
  /** Coordinator VmRSS just before the Backup, VmHWM (peak) at the end; bytes. */
  readonly rssBefore: number;
  readonly rssPeak: number;
  /** The coordinator's API requests from the Backup's creation to its completion, by `verb resource`. */
  readonly requests: Readonly<Record<string, number>>;
  /** The same without Lease renewals and Events (time-driven, not per volume). */
  readonly volumeRequests: number;
}

async function inBatches(count: number, concurrency: number, make: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < count; i += concurrency) await Promise.all(Array.from({ length: Math.min(concurrency, count - i) }, (_, k) => make(i + k)));
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1];
  if (!kb) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(kb) * 1024;
}

/** One entry per request: a watch when it started, anything else when it was answered. */
export function requestsOf(events: readonly AuditEvent[], user: string, from: number, to: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) {
    if (e.user !== user || e.time < from || e.time > to || e.stage !== (e.verb === 'watch' ? 'ResponseStarted' : 'ResponseComplete')) continue;
    const key = `${e.verb} ${e.resource}${e.subresource ? `/${e.subresource}` : ''}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** Requests that scale with volumes: everything but Lease renewals and Events. */
export function perVolumeRequestCount(requests: Readonly<Record<string, number>>): number {
  return Object.entries(requests).filter(([k]) => !/ (leases|events)$/.test(k)).reduce((n, [, v]) => n + v, 0);
}

async function createWorkload(cp: ControlPlane, o: ClusterScaleOptions): Promise<void> {
  const kc = cp.adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const concurrency = o.concurrency ?? 16;
  await core.createNamespace({ body: { metadata: { name: NS } } });
  // No controller manager here: the ServiceAccount admission wants the namespace's default account.
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'default' } } });
  await core.createNamespacedSecret({ namespace: FERRY_NAMESPACE, body: { metadata: { name: 'bench-credentials' }, stringData: { accessKeyId: 'bench', secretAccessKey: 'bench-secret' } } });
  // Never reached: the simulated agents store nothing and the coordinator only probes restic repositories.
  await custom.createClusterCustomObject({ ...group, plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'bench' }, spec: { default: true, s3: { bucket: 'bench', endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true }, credentialsSecretRef: { name: 'bench-credentials' } } } });
  const node = (i: number) => `node-${String(i % o.nodes).padStart(3, '0')}`;
  await inBatches(o.nodes, concurrency, (i) => core.createNode({ body: { metadata: { name: node(i), labels: { 'kubernetes.io/hostname': node(i) } } } }));
  // Running, as the node's kubelet would report it through the status subresource (only Running pods are backed up).
  const running = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  await inBatches(o.pods, concurrency, async (i) => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: `app-${i}`, labels: { app: 'bench' }, annotations: { 'backup.ferry.dev/backup-volumes': 'data' } },
        spec: { nodeName: node(i), automountServiceAccountToken: false, containers: [{ name: 'app', image: 'busybox:1.36' }], volumes: [{ name: 'data', emptyDir: {} }] },
      },
    });
    await core.patchNamespacedPodStatus({ namespace: NS, name: `app-${i}`, body: { status: { phase: 'Running' } } }, running);
  });
}

async function startCoordinator(cp: ControlPlane, root: string): Promise<{ proc: Proc; healthPort: number; hubPort: number }> {
  const kubeconfig = join(root, 'coordinator.kubeconfig');
  await writeFile(kubeconfig, await coordinatorKubeConfigYaml(cp), { mode: 0o600 });
  const [healthPort, hubPort] = [await freePort(), await freePort()];
  const args = ['--kubeconfig', kubeconfig, '--namespace', FERRY_NAMESPACE, '--listen', `127.0.0.1:${healthPort}`, '--hub-listen', `127.0.0.1:${hubPort}`, '--insecure', '--webhook-listen', 'off', '--api-listen', 'off', '--log-level', 'info'];
  const proc = startNode(COORDINATOR_MAIN, args, join(root, 'coordinator.log'));
  await waitFor(async () => (await httpGet(healthPort, '/readyz').catch(() => ({ status: 0, body: '' }))).body.startsWith('leader'), 60_000, 'the coordinator to lead');
  return { proc, healthPort, hubPort };
}

/** Polls the Backup and the agents until it finished; returns the three moments (ms since the epoch). */
async function timeBackup(custom: CustomObjectsApi, agents: SimulatedAgents, pods: number): Promise<{ accepted: number; assigned: number; completed: number; phase: string; status: unknown }> {
  const moments = { accepted: 0, assigned: 0, completed: 0, phase: '', status: {} as unknown };
  await waitFor(async () => {
    const b = (await custom.getNamespacedCustomObject({ ...group, plural: 'backups', namespace: NS, name: 'scale' })) as { status?: { phase?: string } };
    const phase = b.status?.phase ?? 'New';
    moments.status = b.status;
    if (!moments.accepted && phase !== 'New') moments.accepted = Date.now();
    if (!moments.assigned && agents.assignedAt.size >= pods) moments.assigned = Math.max(...agents.assignedAt.values());
    if (['Completed', 'PartiallyFailed', 'Failed', 'Canceled'].includes(phase)) moments.completed = Date.now();
    moments.phase = phase;
    return moments.completed > 0;
  }, 30 * 60_000, `Backup ${NS}/scale to finish`);
  return moments;
}

export async function runClusterScale(o: ClusterScaleOptions): Promise<ClusterScaleResult> {
  const log = o.log ?? (() => undefined);
  const root = await mkdtemp(join(tmpdir(), 'ferry-cluster-scale-'));
  const cp = await ControlPlane.start({ root, controllerManager: false });
  let coordinator: Proc | undefined;
  let agents: SimulatedAgents | undefined;
  try {
    await installFerry(cp);
    await createWorkload(cp, o);
    log(`${o.pods} pods on ${o.nodes} nodes created`);
    const started = await startCoordinator(cp, root);
    coordinator = started.proc;
    const nodes = Array.from({ length: o.nodes }, (_, i) => `node-${String(i).padStart(3, '0')}`);
    agents = await SimulatedAgents.connect({ address: `127.0.0.1:${started.hubPort}`, nodes });
    await waitFor(async () => new RegExp(`^ferry_coordinator_agents_connected ${o.nodes}$`, 'm').test((await httpGet(started.healthPort, '/metrics')).body), 60_000, `${o.nodes} agents connected`);
    const pid = coordinator.child.pid!;
    const rssBefore = await procStatus(pid, 'VmRSS');
    const custom = cp.adminKubeConfig().makeApiClient(CustomObjectsApi);
    const t0 = Date.now();
    await custom.createNamespacedCustomObject({ ...group, plural: 'backups', namespace: NS, body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name: 'scale' }, spec: {} } });
    const m = await timeBackup(custom, agents, o.pods);
    const total = (m.status as { counts?: { total?: number } } | undefined)?.counts?.total;
    if (m.phase !== 'Completed' || total !== o.pods) throw new Error(`Backup ${NS}/scale ended ${m.phase} with ${total} volumes, not ${o.pods}: ${JSON.stringify(m.status).slice(0, 1500)}; see ${join(root, 'coordinator.log')}`);
    const rssPeak = await procStatus(pid, 'VmHWM');
    const requests = requestsOf(await cp.auditEvents(), COORDINATOR_USER, t0, m.completed);
    log(`${o.pods} pods: Completed after ${m.completed - t0} ms`);
    return {
      pods: o.pods, nodes: o.nodes, acceptedMs: m.accepted - t0, assignedMs: m.assigned - t0, completedMs: m.completed - t0,
      reassigned: agents.reassigned, rssBefore, rssPeak, requests, volumeRequests: perVolumeRequestCount(requests),
    };
  } finally {
    await agents?.stop();
    await stopProc(coordinator);
    await cp.stop();
    if (process.env['BENCH_KEEP'] === undefined) await rm(root, { recursive: true, force: true });
    else log(`files kept in ${root}`);
  }
}

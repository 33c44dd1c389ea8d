/**
 * End to end: the real kube-apiserver (test/kube) and two fake nodes (kubelets), two real agent
 * processes and a real coordinator process, real gRPC with mutual TLS, a repository on the
 * run's Ceph RGW. Backup → Completed with snapshot ids and progress; pods deleted and data
 * wiped; Restore; pods recreated as a ReplicaSet/StatefulSet would; the webhook injects
 * restore-wait; the agents restore; the data comes back bit-identical with metadata. Then
 * the coordinator is SIGKILLed mid-backup and restarted, and an agent is SIGKILLed mid-backup.
 * Last, a Backup deleted with purgeOnDelete has its snapshots forgotten in the RGW repository.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatchStrategy, setHeaderOptions, type V1Pod, type V1PodTemplateSpec } from '@kubernetes/client-node';
import { KubeClusterState } from '../../packages/coordinator/src/cluster/kube-state.js';
import { nativePurgeMover } from '../../packages/coordinator/src/purge.js';
import { Repositories } from '../../packages/coordinator/src/repositories.js';
import { createBoundPvc, createReplicaSetPods, createStatefulSetPods } from '../fake-cluster/index.js';
import { disposeOwnedCluster, fillVolume as fill, startOwnedCluster, volumeManifest as manifest, type Cr, type E2eCluster } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

const NS = 'shop';
const SYS = 'ferry-system';
const group = { group: 'ferry.dev', version: 'v1alpha1' };

let cluster: E2eCluster;
let root: string;

const get = (plural: string, name: string, ns = NS) => cluster.get(plural, name, ns);
const list = (plural: string, labelSelector?: string) => cluster.list(plural, NS, labelSelector);
const create = (plural: string, body: Record<string, unknown>, ns = NS) => cluster.create(plural, body, ns);
const volumeDir = (pod: V1Pod, volume: string) => cluster.volumeDir(pod, volume);
const runningPods = () => cluster.runningPods(NS, 2);
const waitPhase = (plural: string, name: string, phases: string[], timeoutMs: number) => cluster.waitPhase(plural, name, NS, phases, timeoutMs);

function template(app: string): V1PodTemplateSpec {
  return {
    metadata: { labels: { app }, annotations: { 'backup.ferry.dev/backup-volumes': 'cache,data' } },
    spec: { containers: [{ name: 'app', image: 'busybox:1.36' }], volumes: [{ name: 'cache', emptyDir: {} }] },
  };
}

async function createWorkloads(): Promise<void> {
  await createBoundPvc(cluster.kc, NS, 'web-data');
  const web = template('web');
  web.spec!.volumes!.push({ name: 'data', persistentVolumeClaim: { claimName: 'web-data' } });
  await createReplicaSetPods(cluster.kc, { namespace: NS, name: 'web-5d9c7', replicas: 1, template: web });
  await createStatefulSetPods(cluster.kc, { namespace: NS, name: 'db', replicas: 1, template: template('db'), volumeClaimTemplates: [{ name: 'data' }] });
}

beforeAll(async () => {
  // A restarted coordinator first waits out the killed leader's Lease and syncs its watches with
  // the real API server; on a loaded machine the agents' reconnect can take longer than the
  // fixture's 4 s default before a volume counts as lost.
  cluster = await startOwnedCluster({ name: 'coordinator', nodes: ['node-a', 'node-b'], namespaces: [NS], prefix: 'coordinator', coordinatorArgs: ['--agent-lost-timeout', '12s'] });
  root = cluster.o.root;
}, 180_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

describe('coordinator end to end', () => {
  const before = new Map<string, Record<string, string>>();

  it('backs up two annotated pods (emptyDir + PVC each) to Completed with snapshot ids and progress on the way', async () => {
    await createWorkloads();
    const pods = await runningPods();
    expect(new Set(pods.map((p) => p.spec?.nodeName)).size).toBe(2);
    for (const pod of pods) for (const v of ['cache', 'data']) {
      await fill(volumeDir(pod, v), `${pod.metadata!.name}-${v}`, 400);
      before.set(`${pod.metadata!.name!.replace(/-[a-z0-9]{5}$/, '')}/${v}`, await manifest(volumeDir(pod, v)));
    }
    await create('backups', { kind: 'Backup', metadata: { name: 'b1' }, spec: {} });
    const progressSeen = new Set<string>();
    const done = await waitFor(async () => {
      for (const p of await list('podvolumebackups', 'ferry.dev/backup=b1')) if (p.status?.phase === 'InProgress' && p.status.progress) progressSeen.add(p.metadata.name);
      const b = await get('backups', 'b1');
      return ['Completed', 'PartiallyFailed', 'Failed'].includes(b.status?.phase) && b;
    }, 90_000, 'backup b1 to finish');
    expect(done.status!.phase, JSON.stringify(done.status)).toBe('Completed');
    expect(done.status!.counts).toMatchObject({ total: 4, completed: 4, failed: 0 });
    expect(done.status!.progress.bytesDone).toBeGreaterThan(0);
    const pvbs = await list('podvolumebackups', 'ferry.dev/backup=b1');
    expect(pvbs).toHaveLength(4);
    for (const p of pvbs) expect(p.status?.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(progressSeen.size).toBeGreaterThan(0);
    expect((await cluster.list('backuprepositories', SYS)).map((r) => r.metadata.name)).toEqual(['rgw-shop']);
  }, 120_000);

  it('restores into recreated pods: webhook injects restore-wait, agents restore, data is bit-identical', async () => {
    for (const p of (await cluster.core.listNamespacedPod({ namespace: NS })).items) await cluster.core.deleteNamespacedPod({ namespace: NS, name: p.metadata!.name! });
    await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: NS })).items.length === 0, 30_000, 'pods to be gone');
    await rm(join(root, 'pv-storage'), { recursive: true, force: true });
    await create('restores', { kind: 'Restore', metadata: { name: 'r1' }, spec: { backupName: 'b1' } });
    await waitPhase('restores', 'r1', ['InProgress'], 20_000);
    await createWorkloads();
    const pods = await runningPods();
    for (const pod of pods) {
      expect(pod.spec?.initContainers?.[0]?.name).toBe('ferry-restore-wait');
      expect(pod.status?.initContainerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
    }
    const r = await waitPhase('restores', 'r1', ['Completed', 'PartiallyFailed', 'Failed'], 60_000);
    expect(r.status!.phase, JSON.stringify(r.status)).toBe('Completed');
    expect(r.status!.counts).toMatchObject({ total: 4, completed: 4 });
    for (const pod of pods) for (const v of ['cache', 'data']) {
      const key = `${pod.metadata!.name!.replace(/-[a-z0-9]{5}$/, '')}/${v}`;
      expect(await manifest(volumeDir(pod, v)), key).toEqual(before.get(key));
    }
  }, 120_000);

  it('finishes a backup with correct statuses when the coordinator is SIGKILLed and restarted mid-backup', async () => {
    const pods = await runningPods();
    for (const pod of pods) await writeFile(join(volumeDir(pod, 'data'), 'new.bin'), Buffer.alloc(4 << 20, pod.metadata!.name!));
    await create('backups', { kind: 'Backup', metadata: { name: 'b2' }, spec: {} });
    await waitFor(async () => (await list('podvolumebackups', 'ferry.dev/backup=b2')).some((p) => p.status?.phase === 'InProgress'), 30_000, 'a volume of b2 in progress');
    cluster.coordinator!.child.kill('SIGKILL');
    await cluster.coordinator!.exited;
    cluster.startCoordinator();
    const b = await waitPhase('backups', 'b2', ['Completed', 'PartiallyFailed', 'Failed'], 60_000);
    expect(b.status!.phase, JSON.stringify(b.status)).toBe('Completed');
    const pvbs = await list('podvolumebackups', 'ferry.dev/backup=b2');
    expect(pvbs.map((p) => p.status?.phase)).toEqual(['Completed', 'Completed', 'Completed', 'Completed']);
    // The parent is found by claim uid, else by pod name + volume: PVC volumes and the StatefulSet pod's
    // emptyDir have one; the recreated ReplicaSet pod's emptyDir (a new pod name) starts a new lineage.
    for (const p of pvbs.filter((x) => x.spec.volume && ((x.spec.volume as { pvc?: unknown }).pvc || (x.spec.pod as { name: string }).name === 'db-0'))) {
      expect(p.spec.parentSnapshotId, p.metadata.name).toMatch(/^[0-9a-f]{64}$/);
      expect(p.status?.parentSnapshotId).toBe(p.spec.parentSnapshotId);
    }
  }, 90_000);

  it('fails the volumes of an agent SIGKILLed mid-backup with AgentLost; the other node completes', async () => {
    const pods = await runningPods();
    const victim = pods.find((p) => p.spec?.nodeName === 'node-b')!;
    await writeFile(join(volumeDir(victim, 'cache'), 'large.bin'), Buffer.alloc(96 << 20).map((_, i) => (i * 2654435761) >>> 24));
    await create('backups', { kind: 'Backup', metadata: { name: 'b3' }, spec: {} });
    await waitFor(async () => (await list('podvolumebackups', 'ferry.dev/backup=b3')).some((p) => p.spec.node === 'node-b' && p.status?.phase === 'InProgress'), 30_000, 'a node-b volume in progress');
    cluster.agents.get('node-b')!.child.kill('SIGKILL');
    await cluster.agents.get('node-b')!.exited;
    const b = await waitPhase('backups', 'b3', ['Completed', 'PartiallyFailed', 'Failed'], 60_000);
    expect(b.status!.phase, JSON.stringify(b.status)).toBe('PartiallyFailed');
    const pvbs = await list('podvolumebackups', 'ferry.dev/backup=b3');
    const onB = pvbs.filter((p) => p.spec.node === 'node-b');
    expect(onB.some((p) => p.status?.phase === 'Failed' && p.status.error?.code === 'AgentLost'), JSON.stringify(onB.map((p) => p.status))).toBe(true);
    for (const p of onB.filter((x) => x.status?.phase === 'Failed')) expect(p.status?.error?.message).toMatch(/agent on node node-b disconnected/);
    for (const p of pvbs.filter((x) => x.spec.node === 'node-a')) expect(p.status?.phase).toBe('Completed');
  }, 90_000);

  it('forgets the snapshots of a Backup deleted with purgeOnDelete; other Backups keep theirs', async () => {
    const repository = await new Repositories({ cluster: new KubeClusterState(cluster.kc), namespace: SYS }).jobRepository('rgw-shop', { initialize: false });
    const mover = nativePurgeMover({ repository: 'rgw-shop', mover: 'native', access: repository }).mover;
    const ids = async (backup: string) => (await list('podvolumebackups', `ferry.dev/backup=${backup}`)).map((p) => p.status?.snapshotId as string);
    const [purged, kept] = [await ids('b2'), await ids('b1')];
    expect(purged).toHaveLength(4);
    const before = (await mover.snapshots({})).map((s) => s.id);
    expect(before).toEqual(expect.arrayContaining([...purged, ...kept]));
    await cluster.custom.patchNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', name: 'b2', body: { spec: { purgeOnDelete: true } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await cluster.custom.deleteNamespacedCustomObject({ ...group, namespace: NS, plural: 'backups', name: 'b2' });
    await waitFor(async () => !(await list('backups')).some((b) => b.metadata.name === 'b2'), 30_000, 'backup b2 to be gone');
    const after = (await mover.snapshots({})).map((s) => s.id);
    for (const id of purged) expect(after).not.toContain(id);
    expect(after).toEqual(expect.arrayContaining(kept));
    expect(after).toHaveLength(before.length - purged.length);
    expect(await list('podvolumebackups', 'ferry.dev/backup=b2')).toHaveLength(0);
    const events = (await cluster.core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.involvedObject.name === 'b2' && e.reason === 'Purged');
    expect(events[0]?.message).toMatch(/forgot 4 snapshot\(s\) in BackupRepository rgw-shop/);
  }, 60_000);
});

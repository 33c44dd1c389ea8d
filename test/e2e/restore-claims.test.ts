/**
 * Restore into claims (Restore.spec.targetClaims) end to end on the real kube-apiserver: a
 * pod's claim is backed up (the PodVolumeBackup records its class, size and access modes),
 * then restored into a new claim of another storage class (a WaitForFirstConsumer class,
 * bound when the helper pod is scheduled) and into an existing unmounted claim, each through
 * a helper pod the coordinator creates with its own ServiceAccount and deletes afterwards;
 * the content is compared bit-exact with the fidelity tree walker. A claim a pod mounts is
 * refused (and waited for with force), and a new claim whose name exists is refused.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { FAKE_STORAGE_CLASSES } from '../fake-cluster/index.js';
import { makeCorpus } from '../fidelity/corpus.fixture.js';
import { compareTrees, walkTree, type TreeRecord } from '../fidelity/tree-walker.fixture.js';
import { disposeOwnedCluster, startOwnedCluster, type E2eCluster } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

const NS = 'vault';
const TERMINAL = ['Completed', 'PartiallyFailed', 'Failed'];
let cluster: E2eCluster;
let source: TreeRecord;

async function claim(name: string, storageClassName: string): Promise<V1PersistentVolumeClaim> {
  return cluster.core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], storageClassName, resources: { requests: { storage: '2Gi' } } } } });
}

async function bound(name: string): Promise<V1PersistentVolumeClaim> {
  return waitFor(async () => {
    const c = await cluster.core.readNamespacedPersistentVolumeClaim({ namespace: NS, name });
    return c.status?.phase === 'Bound' && c;
  }, 60_000, `claim ${name} to be bound`);
}

async function helperPods(): Promise<number> {
  return (await cluster.core.listNamespacedPod({ namespace: NS, labelSelector: 'ferry.dev/helper' })).items.length;
}

/** The claim's data as the storage keeps it once no pod mounts it; the restore's done-marker (removed by restore-wait in a real pod) left out. */
async function parkedTree(pvc: V1PersistentVolumeClaim): Promise<TreeRecord> {
  const dir = join(cluster.pvStorageDir, pvc.spec!.volumeName!);
  await rm(join(dir, '.ferry'), { recursive: true, force: true });
  return walkTree(dir);
}

async function restore(name: string, spec: Record<string, unknown>): Promise<void> {
  await cluster.create('restores', { kind: 'Restore', metadata: { name }, spec: { backupName: 'b1', ...spec } }, NS);
}

beforeAll(async () => {
  cluster = await startOwnedCluster({ name: 'restore-claims', nodes: ['node-a'], namespaces: [NS], prefix: 'restore-claims', provisioner: true });
  await claim('data', FAKE_STORAGE_CLASSES.immediate);
  await bound('data');
  await cluster.core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'app', annotations: { 'backup.ferry.dev/backup-volumes': 'data' } }, spec: { containers: [{ name: 'app', image: 'busybox:1.36' }], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }] } } });
  const [pod] = await cluster.runningPods(NS, 1);
  const dir = cluster.volumeDir(pod!, 'data');
  makeCorpus(dir, { nonUtf8Names: true });
  source = walkTree(dir);
  expect(source.entries.size).toBeGreaterThan(30);
  await cluster.create('backups', { kind: 'Backup', metadata: { name: 'b1' }, spec: {} }, NS);
  const b = await cluster.waitPhase('backups', 'b1', NS, TERMINAL, 120_000);
  expect(b.status!.phase, JSON.stringify(b.status)).toBe('Completed');
}, 300_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

describe('restore into claims', () => {
  it('records the backed-up claim on the PodVolumeBackup', async () => {
    const [pvb] = await cluster.list('podvolumebackups', NS, 'ferry.dev/backup=b1');
    expect(pvb!.spec.volume.pvc).toMatchObject({ name: 'data', storageClassName: FAKE_STORAGE_CLASSES.immediate, storage: '2Gi', accessModes: ['ReadWriteOnce'] });
  });

  it('restores into a new claim of another storage class through a helper pod that is gone afterwards', async () => {
    await restore('r-new', { targetClaims: [{ claim: 'data', name: 'data-copy' }], storageClassMap: { [FAKE_STORAGE_CLASSES.immediate]: FAKE_STORAGE_CLASSES.waitForFirstConsumer } });
    const seen = new Set<string>();
    const r = await waitFor(async () => {
      for (const p of (await cluster.core.listNamespacedPod({ namespace: NS, labelSelector: 'ferry.dev/helper=restore' })).items) seen.add(p.metadata!.name!);
      const o = await cluster.get('restores', 'r-new', NS);
      return TERMINAL.includes(o.status?.phase) && o;
    }, 180_000, 'restore r-new to finish');
    expect(r.status!.phase, JSON.stringify(r.status)).toBe('Completed');
    expect(r.status!.claims).toMatchObject([{ namespace: NS, name: 'data-copy', sourceClaim: 'data', created: true, phase: 'Completed' }]);
    expect(seen.size).toBe(1);
    expect(await helperPods()).toBe(0);
    const copy = await cluster.core.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'data-copy' });
    expect(copy.spec?.storageClassName).toBe(FAKE_STORAGE_CLASSES.waitForFirstConsumer);
    expect(copy.spec?.resources?.requests?.['storage']).toBe('2Gi');
    expect(copy.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('ferry');
    expect(copy.metadata?.ownerReferences ?? []).toEqual([]);
    expect(copy.status?.phase).toBe('Bound');
    const [pvr] = await cluster.list('podvolumerestores', NS, 'ferry.dev/restore=r-new');
    expect(pvr!.spec.pod.name).toMatch(/^ferry-helper-[0-9a-f]{10}$/);
    expect(pvr!.spec.target.pvc.name).toBe('data-copy');
    expect(compareTrees(source, await parkedTree(copy), { allocation: true })).toEqual([]);
  }, 240_000);

  it('restores into an existing claim that no pod mounts', async () => {
    await claim('scratch', FAKE_STORAGE_CLASSES.immediate);
    const before = await bound('scratch');
    await restore('r-existing', { targetClaims: [{ claim: 'data', name: 'scratch', existing: true }] });
    const r = await cluster.waitPhase('restores', 'r-existing', NS, TERMINAL, 180_000);
    expect(r.status!.phase, JSON.stringify(r.status)).toBe('Completed');
    expect(r.status!.claims).toMatchObject([{ name: 'scratch', phase: 'Completed' }]);
    expect(r.status!.claims[0].created).toBeUndefined();
    await waitFor(async () => (await helperPods()) === 0, 30_000, 'the helper pod to be deleted');
    const after = await cluster.core.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'scratch' });
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
    expect(compareTrees(source, await parkedTree(after), { allocation: true })).toEqual([]);
  }, 240_000);

  it('refuses an existing claim while a pod mounts it, naming the pod', async () => {
    await restore('r-mounted', { targetClaims: [{ claim: 'data', existing: true }] });
    const r = await cluster.waitPhase('restores', 'r-mounted', NS, TERMINAL, 60_000);
    expect(r.status!.phase).toBe('Failed');
    const accepted = r.status!.conditions.find((x: { type: string }) => x.type === 'Accepted');
    expect(accepted).toMatchObject({ status: 'False', reason: 'ClaimInUse' });
    expect(accepted.message).toContain(`claim ${NS}/data is mounted by pod ${NS}/app`);
    const events = (await cluster.core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.involvedObject.name === 'r-mounted' && e.reason === 'ClaimInUse');
    expect(events[0]?.message).toContain(`${NS}/app`);
    expect(await helperPods()).toBe(0);
  }, 90_000);

  it('refuses a new claim whose name exists and leaves that claim alone', async () => {
    const before = await cluster.core.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'scratch' });
    await restore('r-collision', { targetClaims: [{ claim: 'data', name: 'scratch' }] });
    const r = await cluster.waitPhase('restores', 'r-collision', NS, TERMINAL, 60_000);
    expect(r.status!.phase).toBe('Failed');
    const accepted = r.status!.conditions.find((x: { type: string }) => x.type === 'Accepted');
    expect(accepted).toMatchObject({ status: 'False', reason: 'ClaimExists' });
    expect(accepted.message).toContain(`claim ${NS}/scratch exists`);
    const after = await cluster.core.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'scratch' });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(await helperPods()).toBe(0);
  }, 90_000);

  it('lands a helper failure on the Restore, deletes the helper pod and keeps the claim', async () => {
    // No provisioner serves this class: the claim never binds, so the scheduled helper pod never starts.
    await restore('r-stuck', { targetClaims: [{ claim: 'data', name: 'nowhere', storageClassName: 'no-such-class' }] });
    const r = await cluster.waitPhase('restores', 'r-stuck', NS, TERMINAL, 120_000);
    expect(r.status!.phase).toBe('Failed');
    expect(r.status!.claims).toMatchObject([{ name: 'nowhere', created: true, phase: 'Failed', reason: 'HelperPodTimeout' }]);
    const failed = r.status!.conditions.find((x: { type: string }) => x.type === 'Failed');
    expect(failed).toMatchObject({ status: 'True', reason: 'HelperPodTimeout' });
    expect(failed.message).toContain(`claim ${NS}/nowhere: HelperPodTimeout`);
    expect(r.status!.counts).toMatchObject({ total: 1, failed: 1 });
    await waitFor(async () => (await helperPods()) === 0, 30_000, 'the helper pod to be deleted');
    expect((await cluster.core.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'nowhere' })).status?.phase).toBe('Pending');
  }, 180_000);

  it('with force waits until no pod mounts the claim, scaling nothing down', async () => {
    await restore('r-force', { targetClaims: [{ claim: 'data', existing: true }], force: true });
    const waiting = await waitFor(async () => {
      const o = await cluster.get('restores', 'r-force', NS);
      return o.status?.claims?.[0]?.reason === 'ClaimInUse' && o;
    }, 60_000, 'restore r-force to wait for the claim');
    expect(waiting.status!.phase).toBe('InProgress');
    expect(waiting.status!.claims[0].message).toContain(`${NS}/app`);
    expect((await cluster.core.readNamespacedPod({ namespace: NS, name: 'app' })).status?.phase).toBe('Running');
    await cluster.core.deleteNamespacedPod({ namespace: NS, name: 'app' });
    const r = await cluster.waitPhase('restores', 'r-force', NS, TERMINAL, 180_000);
    expect(r.status!.phase, JSON.stringify(r.status)).toBe('Completed');
    await waitFor(async () => (await helperPods()) === 0, 30_000, 'the helper pod to be deleted');
    expect(compareTrees(source, await parkedTree(await bound('data')), { allocation: true })).toEqual([]);
  }, 240_000);
});

/**
 * Backup.spec.includeUnmountedClaims end to end on the real kube-apiserver: a bound PVC that
 * no pod mounts is backed up through a helper pod (created by the coordinator with its own
 * ServiceAccount, scheduled by the fake scheduler, laid out by a fake kubelet, read by the
 * real agent) and the helper pod is gone once the Backup ends; a claim a pod mounts is left
 * to the pod's own annotations.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBoundPvc } from '../fake-cluster/index.js';
import { disposeOwnedCluster, startOwnedCluster, type E2eCluster } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

const NS = 'ledger';
let cluster: E2eCluster;

beforeAll(async () => {
  cluster = await startOwnedCluster({ name: 'unmounted', nodes: ['node-a'], namespaces: [NS], prefix: 'unmounted' });
}, 180_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

describe('unmounted claims', () => {
  it('are backed up through a helper pod that is deleted afterwards', async () => {
    const pvc = await createBoundPvc(cluster.kc, NS, 'archive');
    const parked = join(cluster.o.root, 'pv-storage', pvc.spec!.volumeName!);
    await mkdir(parked, { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(parked, `f${i}.bin`), Buffer.alloc(1000 + i, i));
    const bytes = Array.from({ length: 20 }, (_, i) => 1000 + i).reduce((a, b) => a + b, 0);
    await cluster.create('backups', { kind: 'Backup', metadata: { name: 'u1' }, spec: { includeUnmountedClaims: true } }, NS);
    const seenHelpers = new Set<string>();
    const done = await waitFor(async () => {
      for (const p of (await cluster.core.listNamespacedPod({ namespace: NS, labelSelector: 'ferry.dev/helper' })).items) seenHelpers.add(`${p.metadata!.name!}@${p.spec?.nodeName ?? ''}`);
      const b = await cluster.get('backups', 'u1', NS);
      return ['Completed', 'PartiallyFailed', 'Failed'].includes(b.status?.phase) && b;
    }, 120_000, 'backup u1 to finish');
    expect(done.status!.phase, JSON.stringify(done.status)).toBe('Completed');
    expect(done.status!.counts).toMatchObject({ total: 1, completed: 1 });
    const [pvb] = await cluster.list('podvolumebackups', NS, 'ferry.dev/backup=u1');
    expect(pvb!.spec.volume).toMatchObject({ kind: 'persistentVolumeClaim', pvc: { name: 'archive', uid: pvc.metadata!.uid } });
    expect(pvb!.spec.pod.name).toMatch(/^ferry-helper-[0-9a-f]{10}$/);
    expect(pvb!.status!.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(pvb!.status!.progress).toMatchObject({ filesDone: 20, bytesDone: bytes });
    expect([...seenHelpers].some((h) => h.startsWith(pvb!.spec.pod.name))).toBe(true);
    await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: NS, labelSelector: 'ferry.dev/helper' })).items.length === 0, 30_000, 'the helper pod to be deleted');
  }, 180_000);

  it('are not backed up without the field', async () => {
    await cluster.create('backups', { kind: 'Backup', metadata: { name: 'u2' }, spec: {} }, NS);
    const done = await waitFor(async () => {
      const b = await cluster.get('backups', 'u2', NS);
      return ['Completed', 'PartiallyFailed', 'Failed'].includes(b.status?.phase) && b;
    }, 60_000, 'backup u2 to finish');
    expect(done.status!.counts?.total ?? 0).toBe(0);
    expect((await cluster.core.listNamespacedPod({ namespace: NS })).items).toEqual([]);
  }, 90_000);
});

/**
 * Block volumes end to end on the real kube-apiserver: a pod's `volumeMode: Block` claim
 * (used under volumeDevices) is backed up as a device image by the real agent, then restored
 * into a new pod through the restore webhook — restore-wait waits in the marker emptyDir
 * the webhook adds, as a device cannot be mounted — bit-exact, with holes and written zeros
 * coming back as holes. A restore onto a smaller device fails with TargetTooSmall naming the
 * claim and both sizes and writes nothing; an unmounted block claim is backed up through a
 * helper pod that maps it under volumeDevices, and restored from there into a pod. The fake kubelet stands a regular file of the
 * PV's capacity in for each device (`<root>/pv-storage/<pv>.block`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { createBoundPvc } from '../fake-cluster/index.js';
import { disposeOwnedCluster, startOwnedCluster, type Cr, type E2eCluster } from './cluster.fixture.js';
import { waitFor } from './processes.fixture.js';

const NS = 'vms';
const SPARE_NS = 'spare';
const MiB = 1 << 20;
const DEVICE_BYTES = 8 * MiB;
let cluster: E2eCluster;

beforeAll(async () => {
  // Helper pod settings other than the defaults: the unmounted-claim test sees them on the pod.
  const helperFlags = ['--helper-pod-cpu-request', '20m', '--helper-pod-memory-request', '48Mi', '--helper-pod-tolerations', 'storage=ssd:NoSchedule'];
  cluster = await startOwnedCluster({ name: 'block', nodes: ['node-a'], namespaces: [NS, SPARE_NS], prefix: 'block', coordinatorArgs: helperFlags });
}, 180_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const deviceFile = (pvName: string): string => join(cluster.o.root, 'pv-storage', `${pvName}.block`);

/** The stand-in device of a PV before any pod uses it: `size` bytes, all holes. */
async function blankDevice(pvName: string, size: number): Promise<string> {
  const path = deviceFile(pvName);
  await mkdir(join(cluster.o.root, 'pv-storage'), { recursive: true });
  await writeFile(path, '');
  await truncate(path, size);
  return path;
}

/** 1 MiB random at 0 and at 3 MiB, 512 KiB of written zeros at 5 MiB, the rest holes. */
async function fillDevice(path: string): Promise<Buffer> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(randomBytes(MiB), 0, MiB, 0);
    await fh.write(randomBytes(MiB), 0, MiB, 3 * MiB);
    await fh.write(Buffer.alloc(MiB / 2), 0, MiB / 2, 5 * MiB);
  } finally {
    await fh.close();
  }
  return readFile(path);
}

function vmPod(name: string, claim: string): V1Pod {
  return {
    metadata: { name, labels: { app: 'vm' }, annotations: { 'backup.ferry.dev/backup-volumes': 'disk' } },
    spec: { containers: [{ name: 'vm', image: 'busybox:1.36', volumeDevices: [{ name: 'disk', devicePath: '/dev/xvda' }] }], volumes: [{ name: 'disk', persistentVolumeClaim: { claimName: claim } }] },
  };
}

async function deletePods(ns: string): Promise<void> {
  for (const p of (await cluster.core.listNamespacedPod({ namespace: ns })).items) await cluster.core.deleteNamespacedPod({ namespace: ns, name: p.metadata!.name! });
  await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: ns })).items.length === 0, 30_000, `the pods of ${ns} to be gone`);
}

/** A Restore of `backup`, then `pod` created for the webhook to adopt; resolves with the finished Restore. */
async function restoreIntoNewPod(ns: string, name: string, backup: string, pod: V1Pod): Promise<Cr> {
  await cluster.create('restores', { kind: 'Restore', metadata: { name }, spec: { backupName: backup } }, ns);
  await cluster.waitPhase('restores', name, ns, ['InProgress'], 30_000);
  await cluster.core.createNamespacedPod({ namespace: ns, body: pod });
  return cluster.waitPhase('restores', name, ns, ['Completed', 'PartiallyFailed', 'Failed'], 120_000);
}

describe('block volumes on the real API server', () => {
  let original: Buffer;

  it('back up a pod\'s volumeDevices claim as a device image', async () => {
    const pvc = await createBoundPvc(cluster.kc, NS, 'disk', '8Mi', { volumeMode: 'Block' });
    original = await fillDevice(await blankDevice(pvc.spec!.volumeName!, DEVICE_BYTES));
    await cluster.core.createNamespacedPod({ namespace: NS, body: vmPod('vm', 'disk') });
    await cluster.runningPods(NS, 1);
    await cluster.create('backups', { kind: 'Backup', metadata: { name: 'b1' }, spec: {} }, NS);
    const done = await cluster.waitPhase('backups', 'b1', NS, ['Completed', 'PartiallyFailed', 'Failed'], 120_000);
    expect(done.status!['phase'], JSON.stringify(done.status)).toBe('Completed');
    const [pvb] = await cluster.list('podvolumebackups', NS, 'ferry.dev/backup=b1');
    expect(pvb!.spec['volume']).toMatchObject({ name: 'disk', kind: 'persistentVolumeClaim', volumeMode: 'Block', pvc: { name: 'disk' } });
    expect(pvb!.status!['snapshotId']).toMatch(/^[0-9a-f]{64}$/);
    expect(pvb!.status!['progress']).toMatchObject({ bytesDone: DEVICE_BYTES });
  }, 240_000);

  it('restore it bit-exact into a new pod through restore-wait, holes and written zeros back as holes', async () => {
    await deletePods(NS);
    const [claim] = (await cluster.core.listNamespacedPersistentVolumeClaim({ namespace: NS })).items;
    const device = deviceFile(claim!.spec!.volumeName!);
    await writeFile(device, randomBytes(DEVICE_BYTES));
    const restore = await restoreIntoNewPod(NS, 'r1', 'b1', vmPod('vm', 'disk'));
    expect(restore.status!['phase'], JSON.stringify(restore.status)).toBe('Completed');
    const [pod] = await cluster.runningPods(NS, 1);
    const init = pod!.spec!.initContainers![0]!;
    expect(init.name).toBe('ferry-restore-wait');
    expect(init.volumeMounts).toContainEqual({ name: 'ferry-restore-markers', mountPath: '/ferry-restore/disk', subPath: 'disk' });
    expect(init.volumeMounts!.filter((m) => m.name === 'disk')).toEqual([]);
    expect(pod!.spec!.volumes).toContainEqual({ name: 'ferry-restore-markers', emptyDir: { sizeLimit: '1Mi' } });
    expect(pod!.status!.initContainerStatuses![0]!.state!.terminated!.exitCode).toBe(0);
    const restored = await readFile(device);
    expect(restored.length).toBe(DEVICE_BYTES);
    expect(sha256(restored)).toBe(sha256(original));
    // ext4 and tmpfs punch holes: of 8 MiB only the 2 MiB of random data stay allocated.
    expect((await stat(device)).blocks * 512).toBeLessThanOrEqual(2 * MiB + 64 * 1024);
  }, 240_000);

  it('refuse a restore onto a smaller device with TargetTooSmall naming the claim and both sizes, writing nothing', async () => {
    await deletePods(NS);
    await cluster.core.deleteNamespacedPersistentVolumeClaim({ namespace: NS, name: 'disk' });
    await waitFor(async () => (await cluster.core.listNamespacedPersistentVolumeClaim({ namespace: NS })).items.length === 0, 60_000, 'the claim to be deleted');
    const small = await createBoundPvc(cluster.kc, NS, 'disk', '4Mi', { volumeMode: 'Block' });
    const device = await blankDevice(small.spec!.volumeName!, 4 * MiB);
    await writeFile(device, Buffer.alloc(4 * MiB, 0x5a));
    const restore = await restoreIntoNewPod(NS, 'r2', 'b1', vmPod('vm-small', 'disk'));
    expect(restore.status!['phase'], JSON.stringify(restore.status)).toBe('Failed');
    const [pvr] = await cluster.list('podvolumerestores', NS, 'ferry.dev/restore=r2');
    expect(pvr!.status!['error']).toMatchObject({ code: 'TargetTooSmall' });
    expect(pvr!.status!['error'].message).toMatch(new RegExp(`^claim ${NS}/disk is smaller than the backed-up device: .* has ${4 * MiB} bytes but the backed-up device had ${DEVICE_BYTES}`));
    // restore-wait saw the failed-marker: the pod's init container failed with the reason.
    const pod = await waitFor(async () => {
      const p = await cluster.core.readNamespacedPod({ namespace: NS, name: 'vm-small' });
      return p.status?.initContainerStatuses?.[0]?.state?.terminated && p;
    }, 30_000, 'restore-wait of vm-small to exit');
    expect(pod.status!.initContainerStatuses![0]!.state!.terminated!.exitCode).toBe(1);
    expect(sha256(await readFile(device))).toBe(sha256(Buffer.alloc(4 * MiB, 0x5a)));
  }, 240_000);
});

describe('an unmounted block claim', () => {
  it('is backed up through a helper pod that maps it under volumeDevices (with the coordinator\'s helper pod settings), and restored into a pod', async () => {
    const pvc = await createBoundPvc(cluster.kc, SPARE_NS, 'spare-disk', '8Mi', { volumeMode: 'Block' });
    const original = await fillDevice(await blankDevice(pvc.spec!.volumeName!, DEVICE_BYTES));
    await cluster.create('backups', { kind: 'Backup', metadata: { name: 'u1' }, spec: { includeUnmountedClaims: true } }, SPARE_NS);
    let helper: V1Pod | undefined;
    const done = await waitFor(async () => {
      helper ??= (await cluster.core.listNamespacedPod({ namespace: SPARE_NS, labelSelector: 'ferry.dev/helper' })).items[0];
      const b = await cluster.get('backups', 'u1', SPARE_NS);
      return ['Completed', 'PartiallyFailed', 'Failed'].includes(b.status?.['phase']) && b;
    }, 120_000, 'backup u1 to finish');
    expect(done.status!['phase'], JSON.stringify(done.status)).toBe('Completed');
    expect(helper?.spec?.containers[0]?.volumeDevices).toEqual([{ name: 'data', devicePath: '/ferry/data' }]);
    expect(helper?.spec?.containers[0]?.volumeMounts).toBeUndefined();
    expect(helper?.spec?.containers[0]?.resources).toEqual({ requests: { cpu: '20m', memory: '48Mi' }, limits: { memory: '48Mi' } });
    expect(helper?.spec?.tolerations).toContainEqual({ key: 'storage', operator: 'Equal', value: 'ssd', effect: 'NoSchedule' });
    const [pvb] = await cluster.list('podvolumebackups', SPARE_NS, 'ferry.dev/backup=u1');
    expect(pvb!.spec['volume']).toMatchObject({ kind: 'persistentVolumeClaim', volumeMode: 'Block', pvc: { name: 'spare-disk' } });
    expect(pvb!.status!['progress']).toMatchObject({ bytesDone: DEVICE_BYTES });
    await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: SPARE_NS, labelSelector: 'ferry.dev/helper' })).items.length === 0, 30_000, 'the helper pod to be deleted');
    // What the helper pod's backup holds comes back into a pod that uses the claim.
    const device = deviceFile(pvc.spec!.volumeName!);
    await writeFile(device, randomBytes(DEVICE_BYTES));
    const restore = await restoreIntoNewPod(SPARE_NS, 'ru1', 'u1', vmPod('vm', 'spare-disk'));
    expect(restore.status!['phase'], JSON.stringify(restore.status)).toBe('Completed');
    expect(sha256(await readFile(device))).toBe(sha256(original));
  }, 300_000);
});

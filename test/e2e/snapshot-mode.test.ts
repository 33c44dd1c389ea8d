/**
 * Backup snapshot mode end to end on the real kube-apiserver with the VolumeSnapshot CRDs of
 * external-snapshotter installed and the fake CSI snapshot controller + provisioner
 * (test/fake-cluster/snapshotter.ts): the coordinator (with its own ServiceAccount, so the
 * shipped RBAC is what it gets) snapshots a claim, provisions a claim from the snapshot,
 * and the real agent copies it through a helper pod, while the workload keeps writing.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBoundPvc, FAKE_CSI_DRIVER } from '../fake-cluster/index.js';
import { disposeOwnedCluster, fillVolume, startOwnedCluster, SYS, volumeManifest, type Cr, type E2eCluster } from './cluster.fixture.js';
import { stopProc, waitFor } from './processes.fixture.js';

const NS = 'ledger';
const SNAP = { group: 'snapshot.storage.k8s.io', version: 'v1' };
const TERMINAL = ['Completed', 'PartiallyFailed', 'Failed', 'Canceled'];
let cluster: E2eCluster;

beforeAll(async () => {
  cluster = await startOwnedCluster({ name: 'snapmode', nodes: ['node-a'], namespaces: [NS], prefix: 'snapmode', snapshots: { keepDeletedCopies: true }, coordinatorArgs: ['--agent-wait', '2m', '--snapshot-ready-timeout', '20s'] });
  await cluster.custom.createClusterCustomObject({ ...SNAP, plural: 'volumesnapshotclasses', body: { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass', metadata: { name: 'fake-snap', annotations: { 'snapshot.storage.kubernetes.io/is-default-class': 'true' } }, driver: FAKE_CSI_DRIVER, deletionPolicy: 'Delete' } });
}, 180_000);

afterAll(async () => {
  await disposeOwnedCluster(cluster);
}, 60_000);

function appPod(name: string, claim: string, annotations: Record<string, string> = {}): V1Pod {
  return { metadata: { name, annotations: { 'backup.ferry.dev/backup-volumes': 'data', ...annotations } }, spec: { containers: [{ name: 'app', image: 'busybox:1.36' }], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }] } };
}

async function runningPod(name: string): Promise<V1Pod> {
  return waitFor(async () => {
    const p = await cluster.core.readNamespacedPod({ namespace: NS, name }).catch(() => undefined);
    return p?.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && p;
  }, 60_000, `pod ${name} to run`);
}

/** Creates a Backup and returns it finished, with the wall time from creation to the observed end. */
async function backUp(name: string, spec: Record<string, unknown>, ns = NS): Promise<{ backup: Cr; ms: number }> {
  const t0 = performance.now();
  await cluster.create('backups', { kind: 'Backup', metadata: { name }, spec }, ns);
  const backup = await waitFor(async () => {
    const b = await cluster.get('backups', name, ns);
    return TERMINAL.includes(b.status?.phase) && b;
  }, 180_000, `backup ${name} to finish`);
  return { backup, ms: performance.now() - t0 };
}

async function pvbOf(backup: string, ns = NS): Promise<Cr> {
  const [pvb] = await cluster.list('podvolumebackups', ns, `ferry.dev/backup=${backup}`);
  return pvb!;
}

async function leftovers(): Promise<{ snapshots: string[]; claims: string[]; pods: string[] }> {
  const selector = 'ferry.dev/helper';
  const snapshots = ((await cluster.custom.listNamespacedCustomObject({ ...SNAP, namespace: NS, plural: 'volumesnapshots', labelSelector: selector })) as { items: Cr[] }).items.map((s) => s.metadata.name);
  const claims = (await cluster.core.listNamespacedPersistentVolumeClaim({ namespace: NS, labelSelector: selector })).items.map((c) => c.metadata!.name!);
  const pods = (await cluster.core.listNamespacedPod({ namespace: NS, labelSelector: selector })).items.map((p) => p.metadata!.name!);
  return { snapshots, claims, pods };
}

const NOTHING_LEFT = { snapshots: [], claims: [], pods: [] };

/** Rewrites files of the volume (atomically, by rename) and adds new ones until stopped; returns when each write landed. */
function startWriter(dir: string): { stop: () => Promise<number[]> } {
  const writes: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let gen = 0; running; gen++) {
      const target = join(dir, `d${gen % 10}`, `f${gen % 20}.txt`);
      await writeFile(`${target}.tmp`, `generation ${gen} `.repeat(50));
      await rename(`${target}.tmp`, target);
      await writeFile(join(dir, `new-${gen}.txt`), `written after start, generation ${gen}`);
      writes.push(Date.now());
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  return { stop: async () => ((running = false), await loop, writes) };
}

describe('snapshot mode', () => {
  it('copies exactly the snapshot-time content of a volume written to during the backup, then deletes the snapshot and its claim', async () => {
    const claim = await createBoundPvc(cluster.kc, NS, 'db');
    await cluster.core.createNamespacedPod({ namespace: NS, body: appPod('app', 'db') });
    const pod = await runningPod('app');
    const dir = cluster.volumeDir(pod, 'data');
    await fillVolume(dir, 'snap', 300);

    // The figure for the report: the same volume, live and from a snapshot, alternating, after
    // one untimed full backup (so both read against a parent); the median of each.
    expect((await backUp('warm-up', {})).backup.status?.phase).toBe('Completed');
    const timings: { live: number[]; snapshot: number[] } = { live: [], snapshot: [] };
    for (let round = 0; round < 3; round++) {
      for (const mode of round % 2 === 0 ? (['Never', 'Always'] as const) : (['Always', 'Never'] as const)) {
        const r = await backUp(`timed-${round}-${mode.toLowerCase()}`, { snapshotMode: mode });
        expect(r.backup.status?.phase, JSON.stringify(r.backup.status)).toBe('Completed');
        timings[mode === 'Never' ? 'live' : 'snapshot'].push(r.ms);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const stats = (await pvbOf('timed-2-always')).status?.['stats'];
    console.log(`[snapshot-mode] Backup wall time, ${await volumeFiles(dir)} files: live ${timings.live.map((x) => x.toFixed(0)).join(', ')} ms; snapshot-then-copy ${timings.snapshot.map((x) => x.toFixed(0)).join(', ')} ms; median added ${(median(timings.snapshot) - median(timings.live)).toFixed(0)} ms; last snapshot copy stats ${JSON.stringify(stats)}`);

    const writer = startWriter(dir);
    const { backup } = await backUp('busy', { snapshotMode: 'Always' });
    const writes = await writer.stop();
    expect(backup.status?.phase, JSON.stringify(backup.status)).toBe('Completed');
    const pvb = await pvbOf('busy');
    // The identity is the original claim (so the next backup of it is incremental); the pod is the workload's.
    expect(pvb.spec['pod']).toMatchObject({ name: 'app', uid: pod.metadata!.uid });
    expect(pvb.spec['volume']).toMatchObject({ name: 'data', pvc: { name: 'db', uid: claim.metadata!.uid } });
    expect(pvb.spec['parentSnapshotId']).toBe((await pvbOf('timed-2-always')).status?.['snapshotId']);
    const done = await waitFor(async () => {
      const p = await pvbOf('busy');
      return p.status?.['volumeSnapshot']?.cleanedUp && p;
    }, 30_000, 'the snapshot to be cleaned up');
    const vs = done.status!['volumeSnapshot'];
    expect(vs).toMatchObject({ name: expect.stringMatching(/^ferry-snap-[0-9a-f]{10}$/), className: 'fake-snap', uid: expect.any(String), creationTime: expect.any(String), claim: vs.name, helperPod: { node: 'node-a' } });
    const cut = cluster.snapshotter!.history.get(vs.uid)!;
    expect(Date.parse(vs.creationTime)).toBe(Math.floor(cut.at / 1000) * 1000);
    // The writer kept changing the volume after the cut, and during the copy.
    expect(writes.filter((t) => t > cut.at).length).toBeGreaterThan(10);
    await waitFor(async () => JSON.stringify(await leftovers()) === JSON.stringify(NOTHING_LEFT) && true, 30_000, 'snapshot, claim and helper pod to be deleted');
    // The fake snapshotter keeps a deleted snapshot's copy: the volume as it was at the cut.
    const snapshotTime = await waitFor(() => volumeManifest(cluster.snapshotter!.copyOf(vs.uid, { deleted: true })).catch(() => undefined), 30_000, 'the fake to retire the snapshot copy');
    expect(await volumeManifest(dir)).not.toEqual(snapshotTime);

    // Restore into an emptied volume: exactly the snapshot-time tree comes back.
    await cluster.core.deleteNamespacedPod({ namespace: NS, name: 'app', gracePeriodSeconds: 0 });
    await waitFor(async () => (await cluster.core.listNamespacedPod({ namespace: NS })).items.length === 0, 30_000, 'the pod to go');
    const parked = join(cluster.o.root, 'pv-storage', claim.spec!.volumeName!);
    await waitFor(async () => (await volumeManifest(parked).catch(() => undefined)) !== undefined, 30_000, 'the volume to be parked');
    await rm(parked, { recursive: true, force: true });
    await mkdir(parked);
    await cluster.create('restores', { kind: 'Restore', metadata: { name: 'back' }, spec: { backupName: 'busy' } }, NS);
    await cluster.waitPhase('restores', 'back', NS, ['InProgress'], 30_000);
    await cluster.core.createNamespacedPod({ namespace: NS, body: appPod('app', 'db') });
    const restore = await cluster.waitPhase('restores', 'back', NS, ['Completed', 'PartiallyFailed', 'Failed'], 120_000);
    expect(restore.status?.['phase'], JSON.stringify(restore.status)).toBe('Completed');
    expect(await volumeManifest(cluster.volumeDir(await runningPod('app'), 'data'))).toEqual(snapshotTime);
  }, 600_000);

  it('runs the pre hook before the snapshot and the post hook once it is cut, before the copy', async () => {
    await createBoundPvc(cluster.kc, NS, 'hooked');
    const sh = (script: string) => JSON.stringify(['/bin/sh', '-c', script]);
    await cluster.core.createNamespacedPod({ namespace: NS, body: appPod('hooks', 'hooked', { 'pre.hook.backup.ferry.dev/command': sh('echo pre >> hook.log'), 'post.hook.backup.ferry.dev/command': sh('echo post >> hook.log') }) });
    const pod = await runningPod('hooks');
    await writeFile(join(cluster.volumeDir(pod, 'data'), 'a.txt'), 'a');
    // A driver that uploads after the cut: readyToUse comes 8 s after creationTime.
    cluster.snapshotter!.readyDelayMs = 8_000;
    try {
      await cluster.create('backups', { kind: 'Backup', metadata: { name: 'hooked' }, spec: { pods: [{ name: 'hooks' }], snapshotMode: 'Always' } }, NS);
      const early = await waitFor(async () => {
        const p = await pvbOf('hooked').catch(() => undefined);
        return p?.metadata.annotations?.['ferry.dev/post-hook']?.includes('Succeeded') && p;
      }, 60_000, 'the post hook to succeed');
      // The post hook ran while the snapshot was cut but not ready, so before any data was read.
      expect(early.status?.['volumeSnapshot']).toMatchObject({ creationTime: expect.any(String) });
      expect(early.status?.['volumeSnapshot']?.readyTimestamp).toBeUndefined();
      expect(early.status?.['phase'] ?? 'New').toBe('New');
      expect(JSON.parse(early.metadata.annotations!['ferry.dev/pre-hook']!)).toMatchObject({ outcome: 'Succeeded' });
    } finally {
      cluster.snapshotter!.readyDelayMs = 0;
    }
    const done = await cluster.waitPhase('backups', 'hooked', NS, TERMINAL, 120_000);
    expect(done.status?.['phase'], JSON.stringify(done.status)).toBe('Completed');
    expect(await readFile(join(await cluster.rootDir(pod), 'hook.log'), 'utf8')).toBe('pre\npost\n');
  }, 300_000);

  it('fails a volume whose snapshot is not readyToUse in time with SnapshotNotReady, and deletes the snapshot', async () => {
    await createBoundPvc(cluster.kc, NS, 'slowdisk');
    await cluster.core.createNamespacedPod({ namespace: NS, body: appPod('slow', 'slowdisk') });
    await runningPod('slow');
    cluster.snapshotter!.readyDelayMs = 10 * 60_000;
    try {
      const { backup } = await backUp('slow', { pods: [{ name: 'slow' }], snapshotMode: 'Always' });
      expect(backup.status?.phase).toBe('Failed');
      const pvb = await pvbOf('slow');
      expect(pvb.status?.['error']).toMatchObject({ code: 'SnapshotNotReady', message: expect.stringMatching(/^VolumeSnapshot ledger\/ferry-snap-[0-9a-f]{10} is not readyToUse after 20 s; check the snapshot controller/) });
      expect(pvb.status?.['volumeSnapshot']).toMatchObject({ creationTime: expect.any(String) });
      await waitFor(async () => JSON.stringify(await leftovers()) === JSON.stringify(NOTHING_LEFT) && true, 30_000, 'the snapshot to be deleted');
    } finally {
      cluster.snapshotter!.readyDelayMs = 0;
    }
  }, 300_000);

  it('Always fails a claim whose driver has no VolumeSnapshotClass with SnapshotUnsupported; Auto copies it live', async () => {
    await boundClaimOfDriver('plain', 'plain.csi.ferry.dev');
    await cluster.core.createNamespacedPod({ namespace: NS, body: appPod('always', 'plain', { 'backup.ferry.dev/snapshot-mode': 'data=Always' }) });
    await runningPod('always');
    const { backup } = await backUp('nosnap', { pods: [{ name: 'always' }] });
    expect(backup.status?.phase).toBe('Failed');
    const pvb = await pvbOf('nosnap');
    expect(pvb.spec['snapshotMode']).toBe('Always');
    expect(pvb.status?.['error']).toMatchObject({ code: 'SnapshotUnsupported', message: expect.stringMatching(/claim ledger\/plain cannot be snapshotted: no VolumeSnapshotClass of driver plain\.csi\.ferry\.dev/) });
    expect(pvb.status?.['volumeSnapshot']).toBeUndefined();

    const auto = await backUp('autosnap', { pods: [{ name: 'always' }], snapshotMode: 'Auto' });
    // The annotation's Always wins over the Backup's Auto for that volume.
    expect(auto.backup.status?.phase).toBe('Failed');
    await cluster.core.createNamespacedPod({ namespace: NS, body: appPod('auto', 'plain') });
    await runningPod('auto');
    const live = await backUp('autolive', { pods: [{ name: 'auto' }], snapshotMode: 'Auto' });
    expect(live.backup.status?.phase, JSON.stringify(live.backup.status)).toBe('Completed');
    expect((await pvbOf('autolive')).status?.['volumeSnapshot']).toBeUndefined();
    expect(await leftovers()).toEqual(NOTHING_LEFT);
  }, 300_000);

  it('deleting a Backup of another namespace mid-copy deletes its snapshot, claim and helper pod', async () => {
    await stalledSnapshotBackup('dropped');
    try {
      const left = await leftovers();
      expect([left.snapshots.length, left.claims.length, left.pods.length]).toEqual([1, 1, 1]);
      await cluster.custom.deleteNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', namespace: SYS, plural: 'backups', name: 'dropped' });
      await waitFor(async () => JSON.stringify(await leftovers()) === JSON.stringify(NOTHING_LEFT) && true, 60_000, 'the Backup deletion to delete the snapshot, claim and helper pod');
    } finally {
      cluster.startAgent('node-a');
    }
  }, 300_000);

  it('sweeps the snapshot, claim and helper pod a killed coordinator left for a volume that is gone', async () => {
    await stalledSnapshotBackup('crash');
    cluster.coordinator!.child.kill('SIGKILL');
    await cluster.coordinator!.exited;
    // The Backup and its volumes go while no coordinator runs (their finalizer removed by hand).
    await cluster.custom.patchNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', namespace: SYS, plural: 'backups', name: 'crash', body: [{ op: 'remove', path: '/metadata/finalizers' }] }, jsonPatch());
    await cluster.custom.deleteNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', namespace: SYS, plural: 'backups', name: 'crash' });
    await waitFor(async () => (await cluster.list('podvolumebackups', SYS, 'ferry.dev/backup=crash')).length === 0, 60_000, 'the volumes to be collected');
    const left = await leftovers();
    expect(left.snapshots.length).toBeGreaterThan(0);
    expect(left.claims.length).toBeGreaterThan(0);
    expect(left.pods.length).toBeGreaterThan(0);
    cluster.startCoordinator();
    await cluster.coordinatorListening();
    await waitFor(async () => JSON.stringify(await leftovers()) === JSON.stringify(NOTHING_LEFT) && true, 60_000, 'the sweep to delete what the killed coordinator left');
    cluster.startAgent('node-a');
  }, 300_000);
});

/**
 * A Backup in ferry-system of one pod of NS (`<name>`, its claim `<name>`) in snapshot mode,
 * with the node's agent stopped: the volume stops once the helper pod runs, with snapshot,
 * claim and helper pod created. The caller starts the agent again.
 */
async function stalledSnapshotBackup(name: string): Promise<void> {
  await createBoundPvc(cluster.kc, NS, name);
  const pod = appPod(name, name);
  await cluster.core.createNamespacedPod({ namespace: NS, body: { ...pod, metadata: { ...pod.metadata, labels: { stalled: name } } } });
  await runningPod(name);
  await stopProc(cluster.agents.get('node-a'));
  await cluster.create('backups', { kind: 'Backup', metadata: { name }, spec: { namespaces: [NS], labelSelector: { matchLabels: { stalled: name } }, snapshotMode: 'Always' } }, SYS);
  await waitFor(async () => (await cluster.list('podvolumebackups', SYS, `ferry.dev/backup=${name}`)).some((p) => p.status?.['volumeSnapshot']?.helperPod), 120_000, `the helper pod of ${name} to run`);
}

async function volumeFiles(dir: string): Promise<number> {
  return Object.values(await volumeManifest(dir)).filter((v) => v.startsWith('file:')).length;
}

/** A claim bound to a CSI PV of another driver (one no VolumeSnapshotClass names). */
async function boundClaimOfDriver(name: string, driver: string): Promise<void> {
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const pvc = await core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } });
  const pvName = `pvc-${pvc.metadata!.uid}`;
  const claimRef = { kind: 'PersistentVolumeClaim', namespace: NS, name, uid: pvc.metadata!.uid!, apiVersion: 'v1' };
  await core.createPersistentVolume({ body: { metadata: { name: pvName }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', claimRef, csi: { driver, volumeHandle: pvName } } } });
  await core.patchNamespacedPersistentVolumeClaim({ namespace: NS, name, body: [{ op: 'add', path: '/spec/volumeName', value: pvName }] });
  await core.patchNamespacedPersistentVolumeClaimStatus({ namespace: NS, name, body: [{ op: 'replace', path: '/status', value: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } } }] });
}

function jsonPatch() {
  return setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
}

/**
 * FAKE CSI snapshot controller + snapshot-sourced provisioner (test support, never shipped):
 * what a CSI driver with the external-snapshotter sidecars does, for the fake kubelet's
 * volume directories (kubelet-volumes.ts), polling the API server:
 * - a VolumeSnapshot of a claim bound to a PV of FAKE_CSI_DRIVER: the claim's volume
 *   directory is copied (cp -a) into a snapshot store AT THAT MOMENT (the "cut"), a
 *   VolumeSnapshotContent is created and the snapshot's status set (creationTime, then
 *   readyToUse after `readyDelayMs`, as a cloud driver uploading the snapshot would);
 * - a PVC whose dataSource is a VolumeSnapshot: a PV is created and bound, and its data
 *   directory laid out from the snapshot copy (parked where the fake kubelet looks for it);
 * - a deleted VolumeSnapshot loses its content object and store copy; a PV it provisioned
 *   whose claim is gone is deleted with its data (reclaim policy Delete).
 * Claims WITHOUT a snapshot dataSource are not touched (another fake provisions those).
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { FAKE_CSI_DRIVER } from './workloads.js';

const run = promisify(execFile);
const API = { group: 'snapshot.storage.k8s.io', version: 'v1' } as const;
const PROVISIONED_BY = 'fake-snapshotter.ferry.dev/provisioned';

export interface FakeSnapshotterOptions {
  readonly kubeConfig: KubeConfig;
  /** Every fake node's pods dir: a mounted claim's data is under one of them. */
  readonly podsDirs: readonly string[];
  /** The fake kubelets' shared PV storage (parked data of claims no pod mounts). */
  readonly pvStorageDir: string;
  /** Where snapshot copies are kept. */
  readonly storeDir: string;
  /** Between the cut (creationTime) and readyToUse. */
  readonly readyDelayMs?: number;
  /** Keep a deleted snapshot's copy (as `<store>/deleted-<uid>`) so a test can compare with it afterwards. */
  readonly keepDeletedCopies?: boolean;
  readonly pollMs?: number;
}

interface Snap {
  metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string };
  spec: { source: { persistentVolumeClaimName?: string }; volumeSnapshotClassName?: string };
  status?: { readyToUse?: boolean; creationTime?: string };
}

export class FakeSnapshotter {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The snapshots not yet deleted, by uid: when each was cut and where its copy is. */
  private readonly cuts = new Map<string, { at: number; dir: string }>();
  /** Every cut ever made, by snapshot uid (kept after the snapshot is deleted). */
  readonly history = new Map<string, { at: number }>();
  /** Between the cut and readyToUse; a test may change it (a long delay holds snapshots not ready). */
  readyDelayMs: number;

  private constructor(private readonly o: FakeSnapshotterOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = o.kubeConfig.makeApiClient(CustomObjectsApi);
    this.readyDelayMs = o.readyDelayMs ?? 0;
  }

  static async start(o: FakeSnapshotterOptions): Promise<FakeSnapshotter> {
    await mkdir(o.storeDir, { recursive: true });
    const s = new FakeSnapshotter(o);
    s.schedule();
    return s;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.busy;
  }

  /** The directory holding a snapshot's copy (`deleted-<uid>` once deleted, with keepDeletedCopies). */
  copyOf(snapshotUid: string, o: { deleted?: boolean } = {}): string {
    return join(this.o.storeDir, `${o.deleted ? 'deleted-' : ''}${snapshotUid}`);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.busy = this.tick().catch(() => undefined).finally(() => this.schedule());
    }, this.o.pollMs ?? 200);
  }

  private async tick(): Promise<void> {
    const snaps = ((await this.custom.listClusterCustomObject({ ...API, plural: 'volumesnapshots' })) as { items: Snap[] }).items;
    for (const s of snaps) if (!s.status?.readyToUse) await this.take(s);
    await this.forgetDeleted(new Set(snaps.map((s) => s.metadata.uid)));
    for (const claim of (await this.core.listPersistentVolumeClaimForAllNamespaces()).items) {
      if (claim.spec?.dataSource?.kind === 'VolumeSnapshot' && !claim.spec.volumeName) await this.provision(claim);
    }
    await this.reclaim();
  }

  /** The cut (copy + creationTime) once; readyToUse after the delay. */
  private async take(s: Snap): Promise<void> {
    const ns = s.metadata.namespace;
    const contentName = `snapcontent-${s.metadata.uid}`;
    if (!this.cuts.has(s.metadata.uid)) {
      const source = await this.sourceDir(ns, s.spec.source.persistentVolumeClaimName ?? '');
      if (!source) return;
      const dir = this.copyOf(s.metadata.uid);
      await mkdir(dir, { recursive: true });
      await run('cp', ['-a', `${source}/.`, dir]);
      const at = Date.now();
      this.cuts.set(s.metadata.uid, { at, dir });
      this.history.set(s.metadata.uid, { at });
      await this.custom.createClusterCustomObject({ ...API, plural: 'volumesnapshotcontents', body: {
        apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotContent', metadata: { name: contentName },
        spec: { deletionPolicy: 'Delete', driver: FAKE_CSI_DRIVER, source: { snapshotHandle: s.metadata.uid }, volumeSnapshotRef: { name: s.metadata.name, namespace: ns, uid: s.metadata.uid }, ...(s.spec.volumeSnapshotClassName ? { volumeSnapshotClassName: s.spec.volumeSnapshotClassName } : {}) },
      } }).catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
      await this.setStatus(ns, s.metadata.name, { boundVolumeSnapshotContentName: contentName, creationTime: seconds(at), readyToUse: false, restoreSize: '1Gi' });
    }
    const cut = this.cuts.get(s.metadata.uid)!;
    if (Date.now() - cut.at >= this.readyDelayMs) await this.setStatus(ns, s.metadata.name, { boundVolumeSnapshotContentName: contentName, creationTime: seconds(cut.at), readyToUse: true, restoreSize: '1Gi' });
  }

  private async setStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus({ ...API, namespace, plural: 'volumesnapshots', name, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  /** Where the claim's data is now: a mounting pod's CSI volume directory, else its parked copy. */
  private async sourceDir(namespace: string, claimName: string): Promise<string | undefined> {
    const claim = await this.core.readNamespacedPersistentVolumeClaim({ namespace, name: claimName }).catch(() => undefined);
    const pv = claim?.spec?.volumeName;
    if (!pv) return undefined;
    for (const podsDir of this.o.podsDirs) {
      for (const uid of await readdir(podsDir).catch(() => [] as string[])) {
        const dir = join(podsDir, uid, 'volumes', 'kubernetes.io~csi', pv, 'mount');
        if (await isDir(dir)) return dir;
      }
    }
    const parked = join(this.o.pvStorageDir, pv);
    return (await isDir(parked)) ? parked : undefined;
  }

  private async forgetDeleted(live: Set<string>): Promise<void> {
    for (const [uid, cut] of this.cuts) {
      if (live.has(uid)) continue;
      this.cuts.delete(uid);
      if (this.o.keepDeletedCopies) await rename(cut.dir, this.copyOf(uid, { deleted: true }));
      else await rm(cut.dir, { recursive: true, force: true });
      await this.custom.deleteClusterCustomObject({ ...API, plural: 'volumesnapshotcontents', name: `snapcontent-${uid}` }).catch(() => undefined);
    }
  }

  /** A PV laid out from the snapshot copy, bound to the claim (as a CSI provisioner restoring a snapshot). */
  private async provision(claim: V1PersistentVolumeClaim): Promise<void> {
    const ns = claim.metadata!.namespace!;
    const name = claim.metadata!.name!;
    const snap = (await this.custom.getNamespacedCustomObject({ ...API, namespace: ns, plural: 'volumesnapshots', name: claim.spec!.dataSource!.name }).catch(() => undefined)) as Snap | undefined;
    const cut = snap?.status?.readyToUse ? this.cuts.get(snap.metadata.uid) : undefined;
    if (!cut) return;
    const pvName = `pvc-${claim.metadata!.uid!}`;
    const storage = claim.spec?.resources?.requests?.['storage'] ?? '1Gi';
    const data = join(this.o.pvStorageDir, pvName);
    await mkdir(data, { recursive: true });
    await run('cp', ['-a', `${cut.dir}/.`, data]);
    const claimRef = { kind: 'PersistentVolumeClaim', namespace: ns, name, uid: claim.metadata!.uid!, apiVersion: 'v1' };
    await this.core.createPersistentVolume({ body: { metadata: { name: pvName, annotations: { 'pv.kubernetes.io/provisioned-by': FAKE_CSI_DRIVER }, labels: { [PROVISIONED_BY]: 'true' } }, spec: { capacity: { storage }, accessModes: claim.spec?.accessModes ?? ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Delete', claimRef, csi: { driver: FAKE_CSI_DRIVER, volumeHandle: pvName }, ...(claim.spec?.storageClassName ? { storageClassName: claim.spec.storageClassName } : {}) } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
    await this.core.patchNamespacedPersistentVolumeClaim({ namespace: ns, name, body: [{ op: 'add', path: '/spec/volumeName', value: pvName }] });
    await this.core.patchNamespacedPersistentVolumeClaimStatus({ namespace: ns, name, body: [{ op: 'replace', path: '/status', value: { phase: 'Bound', accessModes: claim.spec?.accessModes ?? ['ReadWriteOnce'], capacity: { storage } } }] });
  }

  /** Reclaim policy Delete for the PVs this fake provisioned: gone with their claim. */
  private async reclaim(): Promise<void> {
    for (const pv of (await this.core.listPersistentVolume({ labelSelector: `${PROVISIONED_BY}=true` })).items) {
      const ref = pv.spec?.claimRef;
      const claim = ref ? await this.core.readNamespacedPersistentVolumeClaim({ namespace: ref.namespace!, name: ref.name! }).catch(() => undefined) : undefined;
      if (claim && claim.metadata?.uid === ref?.uid) continue;
      await this.core.deletePersistentVolume({ name: pv.metadata!.name! }).catch(() => undefined);
      await rm(join(this.o.pvStorageDir, pv.metadata!.name!), { recursive: true, force: true });
    }
  }
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

/** The API's times have whole seconds. */
function seconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

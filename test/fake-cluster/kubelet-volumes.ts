/**
 * FAKE kubelet (test support, never shipped): where a pod's volumes live on a fake node,
 * laid out like the kubelet does under its pods dir:
 *   <podsDir>/<podUID>/volumes/kubernetes.io~empty-dir/<volume>
 *   <podsDir>/<podUID>/volumes/kubernetes.io~csi/<pv>/mount      (CSI persistent volumes)
 *   <podsDir>/<podUID>/volumes/kubernetes.io~<plugin>/<pv>        (other persistent volumes)
 *   <podsDir>/<podUID>/volumeDevices/kubernetes.io~csi/<pv> -> <kubelet>/plugins/kubernetes.io/csi/volumeDevices/publish/<pv>/<podUID>
 *                                                           (raw block claims a container lists under volumeDevices)
 * hostPath volumes (and hostPath PVs) map to the host path itself, as in a real node.
 * A block volume's "device" is a REGULAR FILE of the PV's capacity standing in for one (no
 * loop devices: they are global to the machine, and tests run in parallel); it lives in
 * `pvStorageDir`, so its data outlives the pod and follows the PV like a real disk's.
 * Persistent-volume data outlives pods: it is parked in a shared `pvStorageDir` between uses.
 */
import { link, mkdir, rename, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CoreV1Api, V1PersistentVolume, V1Pod, V1Volume } from '@kubernetes/client-node';

export interface VolumeLayout {
  /** Volume name → directory on this machine. */
  dirs: Map<string, string>;
  /** PV name → directory, for parking the data when the pod goes. */
  persistent: Map<string, string>;
}

const PV_PLUGINS: Record<string, string> = { local: 'local-volume', nfs: 'nfs', iscsi: 'iscsi', rbd: 'rbd', cephfs: 'cephfs', fc: 'fc', awsElasticBlockStore: 'aws-ebs', gcePersistentDisk: 'gce-pd', azureDisk: 'azure-disk' };
const POD_PLUGINS: Record<string, string> = { emptyDir: 'empty-dir', configMap: 'configmap', secret: 'secret', projected: 'projected', downwardAPI: 'downward-api' };

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** The directory of a PV-backed volume; undefined for a hostPath PV (the host path is used). */
export function pvDir(volumesDir: string, pv: V1PersistentVolume): string | { hostPath: string } {
  const spec = pv.spec ?? {};
  const name = pv.metadata!.name!;
  if (spec.csi) return join(volumesDir, 'kubernetes.io~csi', name, 'mount');
  if (spec.hostPath) return { hostPath: spec.hostPath.path };
  const key = Object.keys(spec).find((k) => k in PV_PLUGINS) ?? 'unknown';
  return join(volumesDir, `kubernetes.io~${PV_PLUGINS[key] ?? key.toLowerCase()}`, name);
}

async function boundPv(core: CoreV1Api, namespace: string, claimName: string, signal: AbortSignal): Promise<V1PersistentVolume> {
  for (;;) {
    signal.throwIfAborted();
    const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace, name: claimName }).catch(() => undefined);
    const pvName = pvc?.spec?.volumeName;
    const pv = pvName ? await core.readPersistentVolume({ name: pvName }).catch(() => undefined) : undefined;
    if (pv) return pv;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function populate(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [k, v] of Object.entries(files)) await writeFile(join(dir, k), v);
}

async function sourceFiles(core: CoreV1Api, ns: string, vol: V1Volume): Promise<Record<string, string | Buffer>> {
  if (vol.configMap?.name) {
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: vol.configMap.name }).catch(() => undefined);
    return { ...(cm?.data ?? {}) };
  }
  if (vol.secret?.secretName) {
    const s = await core.readNamespacedSecret({ namespace: ns, name: vol.secret.secretName }).catch(() => undefined);
    return Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  }
  if (vol.projected) return { token: 'fake-service-account-token', namespace: ns };
  return {};
}

const UNITS: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };
const DEFAULT_BLOCK_BYTES = 64 * 2 ** 20;

/** A PV's capacity in bytes (the quantities tests use); 64 MiB when it has none. */
function capacityBytes(pv: V1PersistentVolume): number {
  const m = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(pv.spec?.capacity?.['storage'] ?? '');
  return m ? Number(m[1]) * UNITS[m[2] ?? '']! : DEFAULT_BLOCK_BYTES;
}

/**
 * Lays out a raw block claim: the stand-in device lives in the shared PV storage (so its data
 * follows the PV to any node) and is hard-linked to the CSI publish path of this pod, which
 * the pod's volumeDevices entry links to, as the kubelet does.
 */
async function layoutBlock(core: CoreV1Api, pod: V1Pod, vol: V1Volume, podDir: string, pvStorageDir: string, signal: AbortSignal): Promise<void> {
  const pv = await boundPv(core, pod.metadata!.namespace!, vol.persistentVolumeClaim!.claimName, signal);
  const name = pv.metadata!.name!;
  const stored = join(pvStorageDir, `${name}.block`);
  if (!(await exists(stored))) {
    await mkdir(pvStorageDir, { recursive: true });
    await writeFile(stored, '');
    await truncate(stored, capacityBytes(pv));
  }
  const published = join(dirname(podDir), '..', 'plugins', 'kubernetes.io', 'csi', 'volumeDevices', 'publish', name, pod.metadata!.uid!);
  await mkdir(dirname(published), { recursive: true });
  await link(stored, published);
  const links = join(podDir, 'volumeDevices', 'kubernetes.io~csi');
  await mkdir(links, { recursive: true });
  await symlink(published, join(links, name));
}

function blockVolumeNames(pod: V1Pod): Set<string> {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return new Set(containers.flatMap((c) => (c.volumeDevices ?? []).map((d) => d.name)));
}

/** Creates one volume's directory, restoring parked PV data if there is any. */
async function layoutOne(core: CoreV1Api, pod: V1Pod, vol: V1Volume, volumesDir: string, pvStorageDir: string, signal: AbortSignal, out: VolumeLayout): Promise<void> {
  const ns = pod.metadata!.namespace!;
  if (vol.hostPath) {
    out.dirs.set(vol.name, vol.hostPath.path);
    return;
  }
  if (vol.persistentVolumeClaim) {
    const pv = await boundPv(core, ns, vol.persistentVolumeClaim.claimName, signal);
    const dir = pvDir(volumesDir, pv);
    if (typeof dir !== 'string') {
      out.dirs.set(vol.name, dir.hostPath);
      return;
    }
    const parked = join(pvStorageDir, pv.metadata!.name!);
    await mkdir(join(dir, '..'), { recursive: true });
    if (await exists(parked)) await rename(parked, dir);
    else await mkdir(dir, { recursive: true });
    out.dirs.set(vol.name, dir);
    out.persistent.set(pv.metadata!.name!, dir);
    return;
  }
  const key = Object.keys(vol).find((k) => k !== 'name') ?? 'unknown';
  const dir = join(volumesDir, `kubernetes.io~${POD_PLUGINS[key] ?? key.toLowerCase()}`, vol.name);
  await mkdir(dir, { recursive: true });
  await populate(dir, await sourceFiles(core, ns, vol));
  out.dirs.set(vol.name, dir);
}

export async function layoutVolumes(core: CoreV1Api, pod: V1Pod, podDir: string, pvStorageDir: string, signal: AbortSignal): Promise<VolumeLayout> {
  const out: VolumeLayout = { dirs: new Map(), persistent: new Map() };
  const volumesDir = join(podDir, 'volumes');
  const block = blockVolumeNames(pod);
  for (const vol of pod.spec?.volumes ?? []) {
    if (block.has(vol.name) && vol.persistentVolumeClaim) await layoutBlock(core, pod, vol, podDir, pvStorageDir, signal);
    else await layoutOne(core, pod, vol, volumesDir, pvStorageDir, signal, out);
  }
  return out;
}

/** Parks PV data back in shared storage and removes the pod directory (emptyDirs die with the pod). */
export async function teardownVolumes(layout: VolumeLayout | undefined, podDir: string, pvStorageDir: string): Promise<void> {
  for (const [pv, dir] of layout?.persistent ?? []) {
    await mkdir(pvStorageDir, { recursive: true });
    await rename(dir, join(pvStorageDir, pv)).catch(() => undefined);
  }
  await rm(podDir, { recursive: true, force: true });
}

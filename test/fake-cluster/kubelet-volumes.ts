/**
 * FAKE kubelet (test support, never shipped): where a pod's volumes live on a fake node,
 * laid out like the kubelet does under its pods dir:
 *   <podsDir>/<podUID>/volumes/kubernetes.io~empty-dir/<volume>
 *   <podsDir>/<podUID>/volumes/kubernetes.io~csi/<pv>/mount      (CSI persistent volumes)
 *   <podsDir>/<podUID>/volumes/kubernetes.io~<plugin>/<pv>        (other persistent volumes)
 * hostPath volumes (and hostPath PVs) map to the host path itself, as in a real node.
 * Persistent-volume data outlives pods: it is parked in a shared `pvStorageDir` between uses.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  for (const vol of pod.spec?.volumes ?? []) await layoutOne(core, pod, vol, volumesDir, pvStorageDir, signal, out);
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

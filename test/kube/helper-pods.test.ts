/**
 * Helper pods on the real API server, created with the coordinator's own ServiceAccount
 * token (so deploy/'s RBAC is what is tested): the fixed spec passes strict validation and
 * the "restricted" Pod Security level, follows the PV's node affinity, carries
 * volumeDevices for a block claim, is garbage-collected with its owner, is swept when its
 * owner is gone, and the lifecycle reads Unschedulable and ProvisioningFailed from what the
 * server stores.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { helperPodSpec, helperState, HelperPods, HELPER_MOUNT_PATH, type HelperOwner, type HelperPodSettings } from '@ferry/coordinator';
import { ControlPlane } from './control-plane.js';
import { coordinatorKubeConfigYaml, installFerry } from './install.js';
import { waitFor } from '../e2e/processes.fixture.js';

const NS = 'tenant';
const SETTINGS: HelperPodSettings = { image: 'ghcr.io/ferry-backup/ferry-agent:0.1.0', command: ['/usr/local/bin/ferry-restore-wait'], requests: { cpu: '10m', memory: '32Mi' }, lifetimeSeconds: 3600 };
const TIMEOUTS = { provisionMs: 60_000, startMs: 60_000 };

let cp: ControlPlane;
let root: string;
let admin: CoreV1Api;
let custom: CustomObjectsApi;
let helpers: HelperPods;
const liveOwners = new Set<string>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-kube-helpers-'));
  cp = await ControlPlane.start({ root });
  await installFerry(cp);
  const kc = cp.adminKubeConfig();
  admin = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  // The restricted Pod Security level: a helper pod that asked for more than it needs is refused.
  await admin.createNamespace({ body: { metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
  const coordinator = new KubeConfig();
  coordinator.loadFromString(await coordinatorKubeConfigYaml(cp));
  helpers = new HelperPods({ core: coordinator.makeApiClient(CoreV1Api) });
}, 180_000);

afterAll(async () => {
  await cp?.stop();
  await rm(root, { recursive: true, force: true });
});

async function owner(name: string): Promise<HelperOwner> {
  const b = (await custom.createNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', namespace: NS, plural: 'backups', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', metadata: { name }, spec: {} } })) as { metadata: { uid: string } };
  return { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', namespace: NS, name, uid: b.metadata.uid };
}

async function claim(name: string, mode: 'Filesystem' | 'Block' = 'Filesystem'): Promise<V1PersistentVolumeClaim> {
  return admin.createNamespacedPersistentVolumeClaim({ namespace: NS, body: { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], volumeMode: mode, storageClassName: 'none', resources: { requests: { storage: '1Gi' } } } } });
}

describe('helper pods on the real API server', () => {
  it('are accepted with the fixed spec under restricted Pod Security and follow the PV topology', async () => {
    const pvc = await claim('data-a');
    const pv = await admin.createPersistentVolume({ body: { metadata: { name: 'pv-a' }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'none', hostPath: { path: '/tmp/pv-a' }, nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['zone-b'] }] }] } } } } });
    const o = await owner('b-a');
    const stored = await helpers.createOrGet(helperPodSpec({ purpose: 'backup', owner: o, claim: pvc, volume: pv, settings: SETTINGS }));
    expect(stored.spec?.automountServiceAccountToken).toBe(false);
    expect(stored.spec?.containers[0]?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(stored.spec?.containers[0]?.volumeMounts?.find((m) => m.mountPath === HELPER_MOUNT_PATH)?.readOnly).toBe(true);
    expect(stored.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values).toEqual(['zone-b']);
    expect(stored.metadata?.ownerReferences?.[0]?.uid).toBe(o.uid);
    // The same request again (a retry after a crash) returns the stored pod instead of a second.
    const again = await helpers.createOrGet(helperPodSpec({ purpose: 'backup', owner: o, claim: pvc, volume: pv, settings: SETTINGS }));
    expect(again.metadata?.uid).toBe(stored.metadata?.uid);
  });

  it('carry volumeDevices for a block claim (the agent reads the device file) and mount read-write for a restore', async () => {
    const pvc = await claim('raw', 'Block');
    const stored = await helpers.createOrGet(helperPodSpec({ purpose: 'restore', owner: await owner('b-block'), claim: pvc, settings: SETTINGS }));
    expect(stored.spec?.containers[0]?.volumeDevices).toEqual([{ name: 'data', devicePath: HELPER_MOUNT_PATH }]);
    expect(stored.spec?.containers[0]?.volumeMounts ?? []).toEqual([]);
    expect(stored.spec?.volumes?.[0]?.persistentVolumeClaim?.readOnly ?? false).toBe(false);
  });

  it('are deleted by the real garbage collector with their owner', async () => {
    const o = await owner('b-gc');
    const pod = await helpers.createOrGet(helperPodSpec({ purpose: 'backup', owner: o, claim: await claim('data-gc'), settings: SETTINGS }));
    await custom.deleteNamespacedCustomObject({ group: 'ferry.dev', version: 'v1alpha1', namespace: NS, plural: 'backups', name: 'b-gc' });
    await waitFor(async () => (await helpers.get(NS, pod.metadata?.name ?? '')) === undefined, 60_000, 'helper pod to be collected with its Backup');
  }, 90_000);

  it('left by a crashed coordinator are swept on start; those still wanted are kept', async () => {
    const wanted = await owner('b-live');
    liveOwners.add(wanted.uid);
    const keep = await helpers.createOrGet(helperPodSpec({ purpose: 'backup', owner: wanted, claim: await claim('data-live'), settings: SETTINGS }));
    // An owner in another namespace: no ownerReference is possible, only the sweep removes it.
    const orphan = await helpers.createOrGet(helperPodSpec({ purpose: 'snapshot', owner: { ...(await owner('b-gone')), namespace: 'ferry-system' }, claim: await claim('data-gone'), settings: SETTINGS }));
    expect(orphan.metadata?.ownerReferences ?? []).toEqual([]);
    const swept = await helpers.sweep(async (uid) => liveOwners.has(uid));
    expect(swept.deleted).toContain(`${NS}/${orphan.metadata?.name ?? ''}`);
    expect(swept.kept).toContain(`${NS}/${keep.metadata?.name ?? ''}`);
    expect(await helpers.get(NS, orphan.metadata?.name ?? '')).toBeUndefined();
    expect(await helpers.get(NS, keep.metadata?.name ?? '')).toBeDefined();
  });

  it('fail as Unschedulable and ProvisioningFailed from what the server stores, after their timeouts', async () => {
    const pvc = await claim('data-sched');
    const pod = await helpers.createOrGet(helperPodSpec({ purpose: 'backup', owner: await owner('b-sched'), claim: pvc, settings: SETTINGS }));
    const name = pod.metadata?.name ?? '';
    // What the scheduler writes when no node fits.
    await admin.replaceNamespacedPodStatus({ namespace: NS, name, body: { ...pod, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' }] } } });
    const pendingClaim = await admin.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'data-sched' });
    expect(helperState({ pod: await helpers.get(NS, name), claim: pendingClaim, sinceMs: 0, nowMs: 1_000, timeouts: TIMEOUTS }).phase).toBe('Pending');
    const provisioning = helperState({ pod: await helpers.get(NS, name), claim: pendingClaim, sinceMs: 0, nowMs: 120_000, timeouts: TIMEOUTS });
    expect(provisioning).toMatchObject({ phase: 'Failed', reason: 'ProvisioningFailed' });
    const bound = await admin.replaceNamespacedPersistentVolumeClaimStatus({ namespace: NS, name: 'data-sched', body: { ...pendingClaim, status: { phase: 'Bound' } } });
    const unschedulable = helperState({ pod: await helpers.get(NS, name), claim: bound, sinceMs: 0, nowMs: 120_000, timeouts: TIMEOUTS });
    expect(unschedulable).toMatchObject({ phase: 'Failed', reason: 'Unschedulable' });
    expect(unschedulable.phase === 'Failed' && unschedulable.message).toContain('3 Insufficient memory');
  });
});

/**
 * Tenant confinement of the Backup and Restore specs, on the fake API server: a tenant's
 * Restore cannot reach another namespace's snapshots through spec.snapshots plus
 * namespaceMapping (it was accepted before), nor through a PodVolumeBackup that names
 * another namespace's repository, nor name another namespace's Backup; a tenant's Backup
 * cannot name other namespaces, nor reach another namespace's pod through spec.pods; the
 * coordinator's namespace may still cross namespaces, and a tenant's Restore only the
 * namespaces its admission (ferry.dev/created-by) checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { testContext } from '../context.fixture.js';
import { ANNOTATIONS_OUT, LABELS } from '../context.js';
import type { BackupObject, PvbObject, PvrObject, RestoreObject } from '../objects.js';
import type { LocationObject } from '../repositories.js';
import { reconcileBackup } from './backup.js';
import { commit } from './commit.js';
import { reconcileRestoredPod } from './pod-restore.js';
import { reconcileRestore, RESTORE_FINALIZER } from './restore.js';

let api: FakeApiServer;
type Ctx = ReturnType<typeof testContext>['ctx'];
const SNAPSHOT = 'b'.repeat(64);

beforeAll(async () => {
  api = await FakeApiServer.start();
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['ferry-system', 'shop', 'mallory']) await core.createNamespace({ body: { metadata: { name } } });
  const { kube, ctx } = testContext(api.kubeConfig());
  await kube.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: '/nonexistent/ferry' } } } });
  const location = (await ctx.cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
  for (const ns of ['shop', 'mallory']) await ctx.repositories.ensure(location, ns, 'native');
  // A pod of shop only, whose volume any Backup of shop would take.
  const pod = await core.createNamespacedPod({ namespace: 'shop', body: { metadata: { name: 'db-0' }, spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x' }], volumes: [{ name: 'data', emptyDir: {} }] } } });
  await core.replaceNamespacedPodStatus({ namespace: 'shop', name: 'db-0', body: { ...pod, status: { phase: 'Running' } } });
});
afterAll(() => api.stop());

async function restore(ctx: Ctx, namespace: string, name: string, spec: RestoreObject['spec']) {
  // Created with the cancel finalizer the first pass would add, so one pass decides.
  const r = await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name, namespace, finalizers: [RESTORE_FINALIZER] }, spec });
  return (await reconcileRestore(ctx, r)).status;
}

/** Creates a Backup and reconciles it until its volumes are selected (the first pass only adds the finalizer). */
async function selectVolumes(ctx: Ctx, namespace: string, name: string, spec: BackupObject['spec']): Promise<BackupObject> {
  await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name, namespace }, spec });
  for (let i = 0; i < 3; i++) {
    const fresh = (await ctx.cluster.get<BackupObject>('Backup', namespace, name))!;
    await commit(ctx, 'Backup', fresh, await reconcileBackup(ctx, fresh));
  }
  return (await ctx.cluster.get<BackupObject>('Backup', namespace, name))!;
}

const shopSnapshot = { snapshotId: SNAPSHOT, location: 'local', namespace: 'shop', volume: 'data' };

describe('Restore sources', () => {
  it("a tenant's Restore cannot read another namespace's snapshots through spec.snapshots and namespaceMapping", async () => {
    const { ctx } = testContext(api.kubeConfig());
    const status = await restore(ctx, 'mallory', 'steal', { snapshots: [shopSnapshot], namespaceMapping: { shop: 'mallory' } });
    expect(status).toMatchObject({ phase: 'Failed', error: { code: 'NamespaceNotAllowed', message: "Restore mallory/steal reads shop, but no admission checked its creator's rights there (no ferry.dev/created-by annotation): create it with the restores.ferry.dev webhook installed (deploy/base/webhook.yaml) or through the Ferry API, or in ferry-system" } });
    // A mapping into another namespace or a prefix is refused the same way without the webhook's stamp.
    expect(await restore(ctx, 'mallory', 'away', { snapshots: [{ ...shopSnapshot, namespace: 'mallory' }], namespacePrefix: 'x-' })).toMatchObject({ error: { code: 'NamespaceNotAllowed', message: expect.stringMatching(/^Restore mallory\/away restores into x-mallory, but no admission checked/) } });
    // Its own namespace's snapshots are fine, and the coordinator's namespace may cross namespaces.
    expect((await restore(ctx, 'mallory', 'own', { snapshots: [{ ...shopSnapshot, namespace: 'mallory' }] }))?.phase).toBe('InProgress');
    expect((await restore(ctx, 'ferry-system', 'admin', { snapshots: [shopSnapshot], namespaceMapping: { shop: 'mallory' } }))?.phase).toBe('InProgress');
  });

  it('an admitted tenant Restore (ferry.dev/created-by) reaches what its admission checked and nothing else', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const stamped = async (name: string, spec: RestoreObject['spec']) => {
      const r = await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name, namespace: 'mallory', finalizers: [RESTORE_FINALIZER], annotations: { 'ferry.dev/created-by': 'mallory-admin' } }, spec });
      return (await reconcileRestore(ctx, r)).status;
    };
    expect((await stamped('verified', { snapshots: [shopSnapshot], namespaceMapping: { shop: 'mallory' } }))?.phase).toBe('InProgress');
    expect((await stamped('prefixed', { snapshots: [shopSnapshot], namespacePrefix: 'copy-of-' }))?.phase).toBe('InProgress');
    // A Backup of the own namespace whose PodVolumeBackup claims another namespace's pod: its admission checked mallory only.
    const backup = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'claims-shop', namespace: 'mallory' }, spec: {} });
    await ctx.cluster.replaceStatus('Backup', backup, { phase: 'Completed' });
    const pvb = await ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', { metadata: { name: 'claims-shop-data', namespace: 'mallory', labels: { 'ferry.dev/backup': 'claims-shop' } }, spec: { backup: 'claims-shop', pod: { namespace: 'shop', name: 'web-0', uid: 'u' }, node: 'n', volume: { name: 'data', kind: 'emptyDir' }, repository: 'local-shop', mover: 'native' } });
    await ctx.cluster.replaceStatus('PodVolumeBackup', pvb, { phase: 'Completed', snapshotId: SNAPSHOT });
    expect(await stamped('via-backup', { backupName: 'claims-shop', namespaceMapping: { mallory: 'elsewhere' } })).toMatchObject({ phase: 'Failed', error: { code: 'NamespaceNotAllowed', message: expect.stringMatching(/^Restore mallory\/via-backup would restore into shop, which its admission did not check \(elsewhere\)/) } });
  });

  it('a target longer than 63 characters fails the Restore with InvalidTargetNamespace naming the parts', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const status = await restore(ctx, 'ferry-system', 'too-long', { snapshots: [shopSnapshot], namespacePrefix: 'p'.repeat(60) });
    expect(status).toMatchObject({ phase: 'Failed', error: { code: 'InvalidTargetNamespace', message: `Restore ferry-system/too-long: target namespace "${'p'.repeat(60)}shop" (namespacePrefix + shop + namespaceSuffix) is not a valid DNS-1123 label: it has 64 characters; a namespace name has at most 63: shorten namespacePrefix/namespaceSuffix or map shop explicitly in namespaceMapping` } });
  });

  it("a pod whose annotations name another namespace's Restore gets nothing of it; the same pod in the Restore's target namespace does", async () => {
    const { ctx } = testContext(api.kubeConfig());
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    await restore(ctx, 'mallory', 'own-data', { snapshots: [{ ...shopSnapshot, namespace: 'mallory' }] });
    const r = (await ctx.cluster.get<RestoreObject>('Restore', 'mallory', 'own-data'))!;
    const claimed = (namespace: string) => core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'claims-restore', labels: { [LABELS.restoredBy]: 'own-data' }, annotations: { [ANNOTATIONS_OUT.restoreNamespace]: 'mallory', [ANNOTATIONS_OUT.restoreUid]: r.metadata.uid ?? '', [ANNOTATIONS_OUT.restoreVolumes]: JSON.stringify({ data: 'snapshot-0' }) } },
        spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x' }], volumes: [{ name: 'data', emptyDir: {} }] },
      },
    });
    const pvrs = async () => (await ctx.cluster.list<PvrObject>('PodVolumeRestore', 'mallory', `${LABELS.restore}=own-data`)).map((p) => `${p.spec.pod.namespace}/${p.spec.pod.name}`);
    await claimed('shop');
    await reconcileRestoredPod(ctx, 'shop', 'claims-restore');
    expect(await pvrs()).toEqual([]);
    await claimed('mallory');
    await reconcileRestoredPod(ctx, 'mallory', 'claims-restore');
    expect(await pvrs()).toEqual(['mallory/claims-restore']);
  });

  it("a PodVolumeBackup naming another namespace's repository is refused", async () => {
    const { ctx } = testContext(api.kubeConfig());
    const backup = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'forged', namespace: 'mallory' }, spec: {} });
    await ctx.cluster.replaceStatus('Backup', backup, { phase: 'Completed' });
    const pvb = await ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', { metadata: { name: 'forged-data', namespace: 'mallory', labels: { 'ferry.dev/backup': 'forged' } }, spec: { backup: 'forged', pod: { namespace: 'mallory', name: 'app', uid: 'u' }, node: 'n', volume: { name: 'data', kind: 'emptyDir' }, repository: 'local-shop', mover: 'native' } });
    await ctx.cluster.replaceStatus('PodVolumeBackup', pvb, { phase: 'Completed', snapshotId: SNAPSHOT });
    const status = await restore(ctx, 'mallory', 'via-pvb', { backupName: 'forged' });
    expect(status).toMatchObject({ phase: 'Failed', error: { code: 'NamespaceNotAllowed', message: "Restore mallory/via-pvb: BackupRepository local-shop holds namespace shop, not mallory; a volume is only restored from its own namespace's repository" } });
  });

  it("a Restore names a Backup of its own namespace only; a tenant's Backup cannot name other namespaces", async () => {
    const { ctx } = testContext(api.kubeConfig());
    const shops = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'shop-only', namespace: 'shop' }, spec: {} });
    await ctx.cluster.replaceStatus('Backup', shops, { phase: 'Completed' });
    expect(await restore(ctx, 'mallory', 'by-name', { backupName: 'shop-only' })).toMatchObject({ phase: 'Failed', error: { code: 'BackupNotFound', message: 'Backup mallory/shop-only does not exist' } });
    const b = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'grab', namespace: 'mallory', finalizers: ['ferry.dev/backup-cleanup'] }, spec: { namespaces: ['shop'] } });
    const d = await reconcileBackup(ctx, b);
    expect(d.status).toMatchObject({ phase: 'Failed', error: { code: 'NamespaceNotAllowed', message: 'Backup mallory/grab names namespace(s) shop; only Backups in ferry-system may back up other namespaces' } });
  });
});

describe('Backup sources', () => {
  it("a tenant's Backup names pods of its own namespace only: another namespace's pod is reported PodNotFound and nothing of it is backed up", async () => {
    const { ctx } = testContext(api.kubeConfig());
    const backup = await selectVolumes(ctx, 'mallory', 'by-pod', { pods: [{ name: 'db-0', volumes: ['data'] }] });
    expect(backup.status?.skippedVolumes).toContainEqual({ namespace: 'mallory', pod: 'db-0', volume: '*', reason: 'PodNotFound', message: 'pod mallory/db-0 named in spec.pods does not exist' });
    const all = await ctx.cluster.list<PvbObject>('PodVolumeBackup');
    expect(all.filter((p) => p.spec.backup === 'by-pod')).toEqual([]);
    expect(all.filter((p) => p.spec.pod.name === 'db-0')).toEqual([]);
    // The same spec in shop does take the pod: it is only the namespace that kept it out.
    await selectVolumes(ctx, 'shop', 'by-pod', { pods: [{ name: 'db-0', volumes: ['data'] }] });
    const own = await ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=by-pod');
    expect(own.map((p) => `${p.spec.pod.namespace}/${p.spec.pod.name}/${p.spec.volume.name} -> ${p.spec.repository}`)).toEqual(['shop/db-0/data -> local-shop']);
  });
});

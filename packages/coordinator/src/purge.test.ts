/**
 * spec.purgeOnDelete on the fake API server with real local-directory repositories: the
 * coordinator's own NativeMover (cluster key from the Secret) forgets a deleted Backup's
 * snapshots — listed before, gone after, others kept; a failing repository keeps the
 * finalizer with condition PurgeFailed, a Warning Event naming it and a growing backoff;
 * removing spec.purgeOnDelete lets the deletion finish. restic repositories purge through
 * an injected ResticMover (the real restic binary).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import type { Mover } from '@ferry/mover';
import { ResticMover } from '@ferry/restic';
import { FakeApiServer } from '../../../test/fake-cluster/index.js';
import { testContext } from './context.fixture.js';
import type { KubeClusterState } from './cluster/kube-state.js';
import { reconcileBackup } from './controllers/backup.js';
import { commit } from './controllers/commit.js';
import type { BackupObject, PvbObject } from './objects.js';
import { forgetSnapshots, nativePurgeMover } from './purge.js';
import { applyScheduleRetention } from './schedules/retention.js';
import type { LocationObject } from './repositories.js';

let api: FakeApiServer;
let core: CoreV1Api;
let root: string;
const group = { group: 'ferry.dev', version: 'v1alpha1' };

/** Uses ResticMover for restic repositories, the default (native) otherwise. */
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-purge-'));
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['ferry-system', 'shop']) await core.createNamespace({ body: { metadata: { name } } });
  const { kube } = testContext(api.kubeConfig());
  await kube.custom.createClusterCustomObject({ ...group, plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: join(root, 'repos') } } } });
  await mkdir(join(root, 'src'), { recursive: true });
});

afterAll(async () => {
  await api.stop();
  await rm(root, { recursive: true, force: true });
});

async function snapshotsIn(mover: Mover): Promise<string[]> {
  return (await mover.snapshots({})).map((s) => s.id).sort();
}

async function backupOnce(mover: Mover, volume: string): Promise<string> {
  await writeFile(join(root, 'src', `${volume}.txt`), `${volume} ${Math.random()}`);
  return (await mover.backup({ source: { kind: 'directory', path: join(root, 'src') }, identity: { kind: 'pod', namespace: 'shop', pod: 'app', volume } })).snapshotId;
}

/** A finished Backup with one Completed PodVolumeBackup per snapshot, carrying the finalizer. */
async function finishedBackup(ctx: ReturnType<typeof testContext>['ctx'], name: string, repository: string, snapshotIds: readonly string[], purgeOnDelete: boolean): Promise<void> {
  const b = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name, namespace: 'shop', finalizers: ['ferry.dev/backup-cleanup'] }, spec: { purgeOnDelete } });
  await ctx.cluster.replaceStatus('Backup', b, { phase: 'Completed' });
  for (const [i, id] of snapshotIds.entries()) {
    const p = await ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', {
      metadata: { name: `${name}-${i}`, namespace: 'shop', labels: { 'ferry.dev/backup': name } },
      spec: { backup: name, pod: { namespace: 'shop', name: 'app', uid: 'u1' }, node: 'node-a', volume: { name: `v${i}`, kind: 'emptyDir' }, repository, mover: 'native' },
    });
    await ctx.cluster.replaceStatus('PodVolumeBackup', p, { phase: 'Completed', snapshotId: id });
  }
}

/** One reconcile plus its status write, as the controller loop does; undefined once the Backup is gone. */
async function step(ctx: ReturnType<typeof testContext>['ctx'], name: string): Promise<{ backup?: BackupObject; requeueAfterMs?: number }> {
  const b = await ctx.cluster.get<BackupObject>('Backup', 'shop', name);
  if (!b) return {};
  const decision = await reconcileBackup(ctx, b);
  await commit(ctx, 'Backup', b, decision);
  return { backup: await ctx.cluster.get<BackupObject>('Backup', 'shop', name), ...(decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {}) };
}

const deleteBackup = (ctx: ReturnType<typeof testContext>['ctx'], name: string) => (ctx.cluster as KubeClusterState).custom.deleteNamespacedCustomObject({ ...group, plural: 'backups', namespace: 'shop', name });
const events = async (name: string, reason: string) => (await core.listNamespacedEvent({ namespace: 'shop' })).items.filter((e) => e.involvedObject.name === name && e.reason === reason);
const setLocationPath = (ctx: ReturnType<typeof testContext>['ctx'], path: string) => (ctx.cluster as KubeClusterState).custom.patchClusterCustomObject({ ...group, plural: 'backuplocations', name: 'local', body: [{ op: 'replace', path: '/spec/filesystem/path', value: path }] });

describe('purgeOnDelete', () => {
  it('forgets the deleted Backup snapshots in a native repository (others stay); a failing repository keeps the finalizer with PurgeFailed and backoff until it works', async () => {
    const { ctx, clock } = testContext(api.kubeConfig());
    const location = (await ctx.cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
    const repo = await ctx.repositories.ensure(location, 'shop', 'native');
    const repoName = repo.metadata.name!;
    const native = nativePurgeMover({ repository: repoName, mover: 'native', access: await ctx.repositories.jobRepository(repoName, { initialize: true }) }).mover;
    await native.init({});
    const [a, b, kept] = [await backupOnce(native, 'a'), await backupOnce(native, 'b'), await backupOnce(native, 'c')];
    await finishedBackup(ctx, 'gone', repoName, [a!, b!], true);
    await finishedBackup(ctx, 'stays', repoName, [kept!], false);
    expect(await snapshotsIn(native)).toEqual([a, b, kept].sort());

    // The location points nowhere: the purge fails, is recorded, and nothing is deleted.
    await setLocationPath(ctx, join(root, 'nowhere'));
    await deleteBackup(ctx, 'gone');
    const first = await step(ctx, 'gone');
    expect(first.backup?.metadata.finalizers).toEqual(['ferry.dev/backup-cleanup']);
    const failed = first.backup?.status?.conditions?.find((x) => x.type === 'Failed');
    expect(failed).toMatchObject({ status: 'True', reason: 'PurgeFailed' });
    expect(failed?.message).toMatch(new RegExp(`2 snapshot\\(s\\) of this Backup in BackupRepository ${repoName} failed \\(RepositoryNotFound\\).*remove spec.purgeOnDelete`));
    expect((await events('gone', 'PurgeFailed'))[0]?.message).toContain(`BackupRepository ${repoName}`);
    expect(first.requeueAfterMs).toBe(5_000);
    clock.advance(20_000);
    expect((await step(ctx, 'gone')).requeueAfterMs).toBe(20_000);
    expect(await ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=gone')).toHaveLength(2);
    expect(await snapshotsIn(native)).toEqual([a, b, kept].sort());
    const key = (await ctx.cluster.getSecret('ferry-system', 'ferry-cluster-key'))!.data!['cluster-key']!;
    expect(JSON.stringify((await ctx.cluster.get<BackupObject>('Backup', 'shop', 'gone'))?.status)).not.toContain(key);

    // Fixed: the snapshots go, the PodVolumeBackups and the Backup follow; the other Backup's snapshot stays.
    await setLocationPath(ctx, join(root, 'repos'));
    expect((await step(ctx, 'gone')).backup).toBeUndefined();
    expect(await snapshotsIn(native)).toEqual([kept]);
    expect(await ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=gone')).toHaveLength(0);
    expect((await events('gone', 'Purged'))[0]?.message).toMatch(new RegExp(`forgot 2 snapshot\\(s\\) in BackupRepository ${repoName}.*next prune`));

    // Without purgeOnDelete, deleting only removes the objects.
    await deleteBackup(ctx, 'stays');
    expect((await step(ctx, 'stays')).backup).toBeUndefined();
    expect(await snapshotsIn(native)).toEqual([kept]);
  });

  it('restic: the default movers forget them through the restic binary; a wrong password fails the purge (PurgeFailed, naming the repository) until spec.purgeOnDelete is removed', async () => {
    const { ctx, kube } = testContext(api.kubeConfig());
    const resticDir = join(root, 'restic-repo');
    await core.createNamespacedSecret({ namespace: 'ferry-system', body: { metadata: { name: 'restic-pass' }, stringData: { password: 'correct horse battery' } } });
    await core.createNamespacedSecret({ namespace: 'ferry-system', body: { metadata: { name: 'restic-typo' }, stringData: { password: 'correct horse battry' } } });
    await kube.custom.createClusterCustomObject({ ...group, plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'restic-local' }, spec: { filesystem: { path: root } } } });
    await ctx.cluster.createOrGet('BackupRepository', { metadata: { name: 'restic-shop', namespace: 'ferry-system' }, spec: { location: 'restic-local', namespace: 'shop', mover: 'restic', path: 'restic-repo', keySecretRef: { name: 'restic-pass' } } });
    await ctx.cluster.createOrGet('BackupRepository', { metadata: { name: 'restic-typo', namespace: 'ferry-system' }, spec: { location: 'restic-local', namespace: 'shop', mover: 'restic', path: 'restic-repo', keySecretRef: { name: 'restic-typo' } } });
    const restic = new ResticMover({ repository: resticDir, password: 'correct horse battery', cacheDir: join(root, 'restic-cache') });
    await restic.init({});
    const [x, y] = [await backupOnce(restic, 'x'), await backupOnce(restic, 'y')];

    await finishedBackup(ctx, 'r1', 'restic-typo', [x!], true);
    await deleteBackup(ctx, 'r1');
    const refused = await step(ctx, 'r1');
    expect(refused.backup?.status?.conditions?.find((c) => c.type === 'Failed')?.message).toMatch(/BackupRepository restic-typo failed \(WrongPassword\)/);
    expect(JSON.stringify(refused.backup?.status)).not.toContain('battry');
    await ctx.cluster.mergePatch('Backup', 'shop', 'r1', { spec: { purgeOnDelete: false } });
    expect((await step(ctx, 'r1')).backup).toBeUndefined();
    expect(await snapshotsIn(restic)).toEqual([x, y].sort());

    await finishedBackup(ctx, 'r2', 'restic-shop', [x!], true);
    await deleteBackup(ctx, 'r2');
    expect((await step(ctx, 'r2')).backup).toBeUndefined();
    expect(await snapshotsIn(restic)).toEqual([y]);
  });
  it('never writes where this cluster only reads: a Backup to a ReadOnly location fails (LocationReadOnly, an Event naming it), an imported Backup with purgeOnDelete is deleted with its snapshots kept (PurgeSkipped), forget and retention refuse', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const location = (await ctx.cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
    await ctx.cluster.createOrGet<LocationObject>('BackupLocation', { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'archive' }, spec: { accessMode: 'ReadOnly', filesystem: { path: join(root, 'repos') } } });
    const own = await ctx.repositories.ensure(location, 'shop', 'native');
    const native = nativePurgeMover({ repository: own.metadata.name!, mover: 'native', access: await ctx.repositories.jobRepository(own.metadata.name!, { initialize: true }) }).mover;
    await native.init({}).catch(() => undefined);
    const id = await backupOnce(native, 'ro');

    const b = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'to-archive', namespace: 'shop', finalizers: ['ferry.dev/backup-cleanup'] }, spec: { location: 'archive' } });
    expect(b.status?.phase).toBeUndefined();
    const refused = (await step(ctx, 'to-archive')).backup!;
    expect(refused.status).toMatchObject({ phase: 'Failed', error: { code: 'LocationReadOnly' } });
    expect((await events('to-archive', 'LocationReadOnly'))[0]?.message).toMatch(/BackupLocation archive has spec.accessMode ReadOnly, so no backup may write to it/);
    expect(await ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=to-archive')).toHaveLength(0);
    expect((await ctx.cluster.list('BackupRepository', 'ferry-system')).map((r) => r.metadata.name)).not.toContain('archive-shop');

    const imported = await ctx.repositories.ensureImported(location, 'shop', { path: 'shop', repositoryId: 'cd'.repeat(16) });
    await finishedBackup(ctx, 'imported', imported.metadata.name!, [id], true);
    await ctx.cluster.mergePatch('Backup', 'shop', 'imported', { metadata: { labels: { 'ferry.dev/imported': 'true' } } });
    await deleteBackup(ctx, 'imported');
    expect((await step(ctx, 'imported')).backup).toBeUndefined();
    expect(await snapshotsIn(native)).toContain(id);
    expect((await events('imported', 'PurgeSkipped'))[0]?.message).toMatch(new RegExp(`kept 1 snapshot\\(s\\) in BackupRepository ${imported.metadata.name}: .*at BackupLocation local was imported`));
    const retention = await applyScheduleRetention({ repositories: ctx.repositories, movers: ctx.purgeMovers, repository: imported.metadata.name!, tag: 'ferry-schedule=shop/s', policy: { keepLast: 1 }, timeZone: 'UTC', now: Date.now() }).catch((e: unknown) => e);
    expect(retention).toMatchObject({ code: 'ReadOnly' });

    await (ctx.cluster as KubeClusterState).custom.patchClusterCustomObject({ ...group, plural: 'backuplocations', name: 'local', body: [{ op: 'add', path: '/spec/accessMode', value: 'ReadOnly' }] });
    try {
      const forget = await forgetSnapshots({ repositories: ctx.repositories, movers: ctx.purgeMovers, repository: own.metadata.name!, snapshotIds: [id] }).catch((e: unknown) => e);
      expect(forget).toMatchObject({ code: 'ReadOnly', message: expect.stringMatching(/^BackupLocation local has spec.accessMode ReadOnly: forgetting 1 snapshot\(s\) would write to it and is refused/) });
      expect(await snapshotsIn(native)).toContain(id);
    } finally {
      await (ctx.cluster as KubeClusterState).custom.patchClusterCustomObject({ ...group, plural: 'backuplocations', name: 'local', body: [{ op: 'replace', path: '/spec/accessMode', value: 'ReadWrite' }] });
    }
  });
  it('TTL: a finished Backup is deleted once status.expiration passed (ManualClock), with an Expired Event; with purgeOnDelete its snapshots are forgotten too, without it they stay', async () => {
    const { ctx, clock } = testContext(api.kubeConfig());
    const location = (await ctx.cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
    const repoName = (await ctx.repositories.ensure(location, 'shop', 'native')).metadata.name!;
    const native = nativePurgeMover({ repository: repoName, mover: 'native', access: await ctx.repositories.jobRepository(repoName, { initialize: true }) }).mover;
    await native.init({}).catch(() => undefined);
    const [purged, kept] = [await backupOnce(native, 'ttl-a'), await backupOnce(native, 'ttl-b')];
    const expiration = new Date(clock.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    for (const [name, id, purge] of [['ttl-purge', purged, true], ['ttl-keep', kept, false]] as const) {
      await finishedBackup(ctx, name, repoName, [id], purge);
      const b = (await ctx.cluster.get<BackupObject>('Backup', 'shop', name))!;
      await ctx.cluster.replaceStatus('Backup', b, { ...b.status, expiration });
    }

    const early = await step(ctx, 'ttl-purge');
    expect(early.backup?.metadata.deletionTimestamp).toBeUndefined();
    expect(early.requeueAfterMs).toBe(3_600_000);
    clock.advance(3_600_000);
    for (const name of ['ttl-purge', 'ttl-keep']) {
      await step(ctx, name); // expired: the coordinator deletes it
      expect((await step(ctx, name)).backup).toBeUndefined(); // the finalizer ran (and purged, with purgeOnDelete)
    }
    expect((await events('ttl-purge', 'Expired'))[0]?.message).toBe(`status.expiration ${expiration} passed: deleting the Backup and forgetting its snapshots (spec.purgeOnDelete)`);
    expect((await events('ttl-keep', 'Expired'))[0]?.message).toBe(`status.expiration ${expiration} passed: deleting the Backup; its snapshots stay (spec.purgeOnDelete is not set)`);
    const left = await snapshotsIn(native);
    expect(left).not.toContain(purged);
    expect(left).toContain(kept);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { FakeApiServer } from '../../../test/fake-cluster/index.js';
import { testContext } from './context.fixture.js';
import { reconcileBackup } from './controllers/backup.js';
import { reconcileRestore } from './controllers/restore.js';
import { commit } from './controllers/commit.js';
import { reconcilePodVolumeBackup, statusFromBackupResult } from './controllers/pod-volume-backup.js';
import { dispatch } from './state-machine.js';
import type { BackupObject, PvbObject, RestoreObject } from './objects.js';
import type { JobResult__Output } from '@ferry/api';

let api: FakeApiServer;
let core: CoreV1Api;

beforeAll(async () => {
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['ferry-system', 'shop']) await core.createNamespace({ body: { metadata: { name } } });
  const { kube } = testContext(api.kubeConfig());
  await kube.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'nfs' }, spec: { default: true, filesystem: { path: '/backups' } } } });
  await core.createNamespacedPod({ namespace: 'shop', body: { metadata: { name: 'app', annotations: { 'backup.ferry.dev/backup-volumes': 'data,typo' } }, spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x' }], volumes: [{ name: 'data', emptyDir: {} }, { name: 'host', hostPath: { path: '/etc' } }] } } });
  await core.patchNamespacedPodStatus({ namespace: 'shop', name: 'app', body: [{ op: 'replace', path: '/status', value: { phase: 'Running' } }] });
});

afterAll(async () => {
  await api.stop();
});

/** Runs the Restore reconciler `times` times, writing its status as the controller loop does. */
async function stepRestore(ctx: ReturnType<typeof testContext>['ctx'], name: string, times = 1): Promise<RestoreObject> {
  for (let i = 0; i < times; i++) {
    const r = (await ctx.cluster.get<RestoreObject>('Restore', 'shop', name))!;
    await commit(ctx, 'Restore', r, await reconcileRestore(ctx, r));
  }
  return (await ctx.cluster.get<RestoreObject>('Restore', 'shop', name))!;
}

/** Runs the reconciler once and writes its status, as the controller loop does. */
async function step(ctx: ReturnType<typeof testContext>['ctx'], name: string): Promise<BackupObject> {
  const b = (await ctx.cluster.get<BackupObject>('Backup', 'shop', name))!;
  await commit(ctx, 'Backup', b, await reconcileBackup(ctx, b));
  return (await ctx.cluster.get<BackupObject>('Backup', 'shop', name))!;
}

describe('state machines on the fake API server', () => {
  it('refuses an unknown phase instead of guessing', async () => {
    await expect(dispatch({ New: async () => ({}) }, 'Exploded', {})).rejects.toThrow(/no handler for phase "Exploded"/);
  });

  it('Backup: finalizer, then one PodVolumeBackup per selected volume with skip reasons, annotation problems and a repository with a cluster key', async () => {
    const { ctx } = testContext(api.kubeConfig());
    await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'b1', namespace: 'shop' }, spec: { includeVolumes: ['host'] } });
    expect((await step(ctx, 'b1')).metadata.finalizers).toEqual(['ferry.dev/backup-cleanup']);
    const b = await step(ctx, 'b1');
    expect(b.status?.phase).toBe('InProgress');
    expect(b.status?.counts).toMatchObject({ total: 1, skipped: 1 });
    expect(b.status?.skippedVolumes).toEqual([expect.objectContaining({ volume: 'host', reason: 'HostPath' })]);
    expect(b.status?.conditions?.find((c) => c.type === 'AnnotationsValid')).toMatchObject({ status: 'False', reason: 'MalformedAnnotation' });
    const pvbs = await ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=b1');
    expect(pvbs.map((p) => [p.spec.volume.name, p.spec.node, p.spec.repository])).toEqual([['data', 'node-a', 'nfs-shop']]);
    expect(await ctx.cluster.getSecret('ferry-system', 'ferry-cluster-key')).toBeDefined();
    // Idempotent: running New again (as after a crash before the status write) creates nothing new.
    const again = await reconcileBackup(ctx, { ...b, status: {} });
    expect(again.status?.counts?.total).toBe(1);
    expect(await ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=b1')).toHaveLength(1);
  });

  it('PodVolumeBackup: waits for its agent, then fails with AgentUnavailable after the configured wait; the Backup aggregates to Failed', async () => {
    const { ctx, clock } = testContext(api.kubeConfig());
    const [pvb] = await ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=b1');
    const first = await reconcilePodVolumeBackup(ctx, pvb!);
    expect(first.status?.phase).toBe('WaitingForAgent');
    const stored = (await commit(ctx, 'PodVolumeBackup', pvb!, first)) as PvbObject;
    clock.advance(30_000);
    expect((await reconcilePodVolumeBackup(ctx, stored)).status?.phase).toBe('WaitingForAgent');
    clock.advance(30_000);
    const failed = await reconcilePodVolumeBackup(ctx, stored);
    expect(failed.status).toMatchObject({ phase: 'Failed', error: { code: 'AgentUnavailable' } });
    expect(failed.status?.error?.message).toMatch(/node node-a within 60 s/);
    await commit(ctx, 'PodVolumeBackup', stored, failed);
    const b = await step(ctx, 'b1');
    expect(b.status?.phase).toBe('Failed');
    expect(b.status?.counts).toMatchObject({ total: 1, failed: 1 });
  });

  it('applies a result once: a re-delivered or stale result changes nothing', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const [pvb] = await ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=b1');
    const running: PvbObject = { ...pvb!, status: { phase: 'InProgress', attempt: 2 } };
    const result = { jobId: `${pvb!.metadata.uid}.2`, kind: 'JOB_KIND_BACKUP', outcome: 'backup', backup: { snapshotId: 'a'.repeat(64), parentSnapshotId: '', stats: null }, fileErrors: [], fileErrorsTotal: 0, startedAtUnixMs: 0, finishedAtUnixMs: 0, mover: 'MOVER_KIND_NATIVE' } as unknown as JobResult__Output;
    const done = statusFromBackupResult(ctx, running, result);
    expect(done).toMatchObject({ phase: 'Completed', snapshotId: 'a'.repeat(64) });
    expect(statusFromBackupResult(ctx, { ...running, status: done! }, result)).toBeUndefined();
    expect(statusFromBackupResult(ctx, running, { ...result, jobId: `${pvb!.metadata.uid}.1` })).toBeUndefined();
  });

  it('Restore latest: resolved once when it starts and recorded in status.backupName; a later Backup changes nothing; no match fails naming the filters', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const completed = async (name: string, started: string) => {
      const b = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name, namespace: 'shop' }, spec: {} });
      await ctx.cluster.replaceStatus<BackupObject>('Backup', b, { phase: 'Completed', startTimestamp: started });
    };
    await completed('older', '2030-01-01T00:00:00Z');
    await completed('newer', '2030-01-02T00:00:00Z');
    const restore = async (name: string, latest: RestoreObject['spec']['latest']) => {
      await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name, namespace: 'shop' }, spec: { latest } });
      return stepRestore(ctx, name, 2);
    };
    const started = await restore('r-latest', {});
    expect(started.status).toMatchObject({ phase: 'InProgress', backupName: 'newer' });
    await completed('newest', '2030-01-03T00:00:00Z');
    expect((await stepRestore(ctx, 'r-latest')).status?.backupName).toBe('newer');
    expect((await restore('r-as-of', { asOf: '2030-01-01T12:00:00Z' })).status?.backupName).toBe('older');
    const none = await restore('r-none', { schedule: 'hourly' });
    expect(none.status).toMatchObject({ phase: 'Failed', error: { code: 'BackupNotFound', message: expect.stringMatching(/^Restore shop\/r-none: no Completed Backup in namespace shop created by BackupSchedule hourly;/) } });
  });

  it('Restore deletion while it runs: the finalizer cancels it (spec.cancel, Canceled), then lets it go; a finished Restore goes at once', async () => {
    const { ctx } = testContext(api.kubeConfig());
    await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name: 'r-deleted', namespace: 'shop' }, spec: { snapshots: [{ snapshotId: 'a'.repeat(64), location: 'nfs', namespace: 'shop', volume: 'data' }] } });
    const running = await stepRestore(ctx, 'r-deleted', 2);
    expect(running.metadata.finalizers).toEqual(['ferry.dev/restore-cancel']);
    expect(running.status?.phase).toBe('InProgress');
    await ctx.cluster.delete('Restore', 'shop', 'r-deleted');
    const canceling = await stepRestore(ctx, 'r-deleted', 2);
    expect(canceling.metadata.deletionTimestamp).toBeDefined();
    expect(canceling.spec.cancel).toBe(true);
    expect(canceling.status?.phase).toBe('Canceled');
    await stepRestore(ctx, 'r-deleted').catch(() => undefined);
    expect(await ctx.cluster.get<RestoreObject>('Restore', 'shop', 'r-deleted')).toBeUndefined();

    const none = (await ctx.cluster.get<RestoreObject>('Restore', 'shop', 'r-none'))!;
    expect(none.status?.phase).toBe('Failed');
    await ctx.cluster.delete('Restore', 'shop', 'r-none');
    await commit(ctx, 'Restore', none, await reconcileRestore(ctx, { ...none, metadata: { ...none.metadata, deletionTimestamp: new Date().toISOString() } }));
    expect(await ctx.cluster.get<RestoreObject>('Restore', 'shop', 'r-none')).toBeUndefined();
  });
});

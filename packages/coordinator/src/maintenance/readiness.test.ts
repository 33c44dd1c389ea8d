/**
 * BackupRepository readiness on the fake API server with real local repositories: an owned
 * repository is created and Ready (Initialized, initializedAt), opened again only after a
 * spec change; a key that does not open it or a missing Secret is NotReady with the reason
 * and an Event; an imported repository whose path holds another repository id is NotReady
 * (RepositoryIdMismatch, Event) and a Restore from it is refused; a ReadOnly one is never
 * created; a Ready imported one has its id re-read every period on the Clock.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { testContext } from '../context.fixture.js';
import { reconcileRestore, RESTORE_FINALIZER } from '../controllers/restore.js';
import type { BackupObject, PvbObject, RestoreObject } from '../objects.js';
import { nativePurgeMover } from '../purge.js';
import type { LocationObject } from '../repositories.js';
import { reconcileReadiness } from './readiness.js';
import type { RepositoryObject } from './schedule.js';

let api: FakeApiServer;
let core: CoreV1Api;
let root: string;
type Ctx = ReturnType<typeof testContext>['ctx'];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-readiness-'));
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['ferry-system', 'shop', 'other']) await core.createNamespace({ body: { metadata: { name } } });
  const { kube } = testContext(api.kubeConfig());
  await kube.custom.createClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations', body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: root } } } });
  await core.createNamespacedSecret({ namespace: 'ferry-system', body: { metadata: { name: 'another-cluster-key' }, data: { 'cluster-key': randomBytes(32).toString('base64') } } });
});

afterAll(async () => {
  await api.stop();
  await rm(root, { recursive: true, force: true });
});

const location = async (ctx: Ctx) => (await ctx.cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
const get = async (ctx: Ctx, name: string) => (await ctx.cluster.get<RepositoryObject>('BackupRepository', 'ferry-system', name))!;
const ready = (r: RepositoryObject) => r.status?.conditions?.find((c) => c.type === 'Ready');
const events = async (name: string, reason: string) => (await core.listNamespacedEvent({ namespace: 'ferry-system' })).items.filter((e) => e.involvedObject.name === name && e.reason === reason);

/** An owned native repository of `namespace`, created on disk; its id. */
async function ownedRepository(ctx: Ctx, namespace: string): Promise<string> {
  const repo = await ctx.repositories.ensure(await location(ctx), namespace, 'native');
  const name = repo.metadata.name!;
  const { mover } = nativePurgeMover({ repository: name, mover: 'native', access: await ctx.repositories.jobRepository(name, { initialize: true }) });
  return (await mover.init({})).repositoryId!;
}

describe('BackupRepository readiness', () => {
  it('an owned repository is created and Ready (Initialized); it is opened again only after a spec change', async () => {
    const { ctx, clock } = testContext(api.kubeConfig());
    const repo = (await ctx.repositories.ensure(await location(ctx), 'shop', 'native')) as RepositoryObject;
    const first = await reconcileReadiness(ctx, repo);
    const now = new Date(clock.now()).toISOString().replace('.000', '');
    expect(first.repo.status).toMatchObject({ phase: 'Ready', initializedAt: now, lastValidationTime: now });
    expect(ready(first.repo)).toMatchObject({ status: 'True', reason: 'Initialized', observedGeneration: 1, message: expect.stringMatching(/^created with a new master key \(repository [0-9a-f]{32}\)$/) });
    expect((await stat(join(root, 'shop', 'config'))).isFile()).toBe(true);
    expect(first.requeueAfterMs).toBeUndefined();

    clock.advance(3_600_000);
    const again = await reconcileReadiness(ctx, first.repo);
    expect(again.repo.status).toEqual(first.repo.status);

    await ctx.cluster.mergePatch('BackupRepository', 'ferry-system', repo.metadata.name!, { spec: { maintenance: { checkInterval: '24h' } } });
    const changed = await reconcileReadiness(ctx, await get(ctx, repo.metadata.name!));
    expect(changed.repo.status).toMatchObject({ phase: 'Ready', initializedAt: now, lastValidationTime: new Date(clock.now()).toISOString().replace('.000', '') });
    expect(ready(changed.repo)).toMatchObject({ reason: 'Initialized', observedGeneration: 2 });
  });

  it('a key that does not open it is NotReady with an Event; a missing key Secret is CredentialsNotFound; both retried every period', async () => {
    const { ctx } = testContext(api.kubeConfig());
    await ownedRepository(ctx, 'other');
    const spec = { location: 'local', namespace: 'other', mover: 'native' as const, path: 'other' };
    const wrong = await ctx.cluster.createOrGet<RepositoryObject>('BackupRepository', { metadata: { name: 'wrong-key', namespace: 'ferry-system' }, spec: { ...spec, keySecretRef: { name: 'another-cluster-key', key: 'cluster-key' } } });
    const r = await reconcileReadiness(ctx, wrong);
    expect(r.repo.status?.phase).toBe('NotReady');
    expect(ready(r.repo)).toMatchObject({ status: 'False', reason: 'Unavailable', message: expect.stringMatching(/^BackupRepository ferry-system\/wrong-key \(BackupLocation local, path other\) could not be opened \(WrongPassword\): .*; check the BackupLocation's Ready condition and spec.keySecretRef$/) });
    expect(r.requeueAfterMs).toBe(300_000);
    expect(await events('wrong-key', 'Unavailable')).toHaveLength(1);

    const missing = await ctx.cluster.createOrGet<RepositoryObject>('BackupRepository', { metadata: { name: 'no-key', namespace: 'ferry-system' }, spec: { ...spec, keySecretRef: { name: 'absent-key' } } });
    expect(ready((await reconcileReadiness(ctx, missing)).repo)).toMatchObject({ status: 'False', reason: 'CredentialsNotFound', message: 'BackupRepository ferry-system/no-key (BackupLocation local, path other): Secret ferry-system/absent-key does not exist; create it or fix the reference' });
  });

  it('an imported repository whose path holds another id is RepositoryIdMismatch and a Restore from it is refused; the right id is Ready and re-read every period; a missing one is never created', async () => {
    const { ctx, clock } = testContext(api.kubeConfig());
    const loc = await location(ctx);
    const actual = await ownedRepository(ctx, 'other');

    // "Imported" for shop, but the path is other's repository: never read it.
    const claimed = 'f'.repeat(32);
    const wrong = (await ctx.repositories.ensureImported(loc, 'shop', { path: 'other', repositoryId: claimed })) as RepositoryObject;
    const refused = await reconcileReadiness(ctx, wrong);
    const message = `BackupRepository ferry-system/${wrong.metadata.name} (BackupLocation local, path other) holds repository ${actual}, not ${claimed} recorded in spec.repositoryId: the repository at the path was replaced or the location's prefix is wrong, so nothing is read from it; fix the BackupLocation or the path, or import the backup again`;
    expect(refused.repo.status?.phase).toBe('NotReady');
    expect(ready(refused.repo)).toMatchObject({ status: 'False', reason: 'RepositoryIdMismatch', message });
    expect((await events(wrong.metadata.name!, 'RepositoryIdMismatch'))[0]?.message).toBe(message);

    const backup = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'imported', namespace: 'shop', labels: { 'ferry.dev/imported': 'true' } }, spec: {} });
    await ctx.cluster.replaceStatus('Backup', backup, { phase: 'Completed' });
    const pvb = await ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', { metadata: { name: 'imported-data', namespace: 'shop', labels: { 'ferry.dev/backup': 'imported', 'ferry.dev/imported': 'true' } }, spec: { backup: 'imported', pod: { namespace: 'shop', name: 'db', uid: 'u' }, node: 'n', volume: { name: 'data', kind: 'emptyDir' }, repository: wrong.metadata.name!, mover: 'native' } });
    await ctx.cluster.replaceStatus('PodVolumeBackup', pvb, { phase: 'Completed', snapshotId: 'a'.repeat(64) });
    const restore = await ctx.cluster.createOrGet<RestoreObject>('Restore', { metadata: { name: 'from-imported', namespace: 'shop', finalizers: [RESTORE_FINALIZER] }, spec: { backupName: 'imported' } });
    const decision = await reconcileRestore(ctx, restore);
    expect(decision.status).toMatchObject({ phase: 'Failed', error: { code: 'RepositoryIdMismatch', message: `Restore shop/from-imported: ${message}` } });

    // The right id: Ready, not created here; its id is re-read every period, and a replaced repository is noticed.
    const right = (await ctx.repositories.ensureImported(loc, 'shop', { path: 'other', repositoryId: actual })) as RepositoryObject;
    const ok = await reconcileReadiness(ctx, right);
    expect(ok.repo.status?.phase).toBe('Ready');
    expect(ok.repo.status?.initializedAt).toBeUndefined();
    expect(ready(ok.repo)).toMatchObject({ reason: 'Available' });
    expect(ok.requeueAfterMs).toBe(300_000);
    await rm(join(root, 'other'), { recursive: true });
    const replaced = await ownedRepository(ctx, 'other');
    clock.advance(299_000);
    expect((await reconcileReadiness(ctx, ok.repo)).repo.status?.phase).toBe('Ready');
    clock.advance(1_000);
    const noticed = await reconcileReadiness(ctx, ok.repo);
    expect(ready(noticed.repo)).toMatchObject({ status: 'False', reason: 'RepositoryIdMismatch', message: expect.stringContaining(`holds repository ${replaced}, not ${actual}`) });

    // Nothing at the path: NotReady, and nothing is created where this cluster only reads.
    const absent = (await ctx.repositories.ensureImported(loc, 'shop', { path: 'nothing-here', repositoryId: 'e'.repeat(32) })) as RepositoryObject;
    expect(ready((await reconcileReadiness(ctx, absent)).repo)).toMatchObject({ status: 'False', reason: 'Unavailable', message: expect.stringContaining('there is no Ferry repository') });
    await expect(stat(join(root, 'nothing-here'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

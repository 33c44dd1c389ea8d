/**
 * The BackupLocation controller on the fake API server with a ManualClock: a real directory
 * location and a real RGW bucket are probed; phase, lastValidationTime and the Ready
 * condition follow what the probe found, again after every spec change and every
 * validation period (not before), with an Event on each flip; a Backup naming an
 * Unavailable location fails at once with LocationUnavailable.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { createTestBucket, type TestBucket } from '../../../../test/support/s3.js';
import { testContext } from '../context.fixture.js';
import { commit } from '../controllers/commit.js';
import { reconcileBackup } from '../controllers/backup.js';
import type { BackupObject } from '../objects.js';
import type { LocationObject } from '../repositories.js';
import { reconcileLocation, type StoredLocation } from './controller.js';

let api: FakeApiServer;
let core: CoreV1Api;
let root: string;
let bucket: TestBucket;
const group = { group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations' };
type Ctx = ReturnType<typeof testContext>['ctx'];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-location-'));
  api = await FakeApiServer.start();
  core = api.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ['ferry-system', 'shop']) await core.createNamespace({ body: { metadata: { name } } });
  bucket = await createTestBucket({ namePrefix: 'ferry-location' });
  const c = bucket.connection;
  await core.createNamespacedSecret({ namespace: 'ferry-system', body: { metadata: { name: 's3-good' }, stringData: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } } });
  await core.createNamespacedSecret({ namespace: 'ferry-system', body: { metadata: { name: 's3-wrong' }, stringData: { accessKeyId: c.accessKeyId, secretAccessKey: 'not-the-secret-key-at-all' } } });
});

afterAll(async () => {
  await api.stop();
  await bucket.cleanup();
  await rm(root, { recursive: true, force: true });
});

async function createLocation(ctx: Ctx, name: string, spec: LocationObject['spec']): Promise<void> {
  await ctx.cluster.createOrGet<LocationObject>('BackupLocation', { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name }, spec });
}

/** One reconcile and its status write, as the work queue does. */
async function step(ctx: Ctx, name: string): Promise<{ location: LocationObject; requeueAfterMs?: number }> {
  const l = (await ctx.cluster.get<StoredLocation>('BackupLocation', '', name))!;
  const d = await reconcileLocation(ctx, l);
  await commit(ctx, 'BackupLocation', l, d);
  return { location: (await ctx.cluster.get<LocationObject>('BackupLocation', '', name))!, ...(d.requeueAfterMs !== undefined ? { requeueAfterMs: d.requeueAfterMs } : {}) };
}

const events = async (name: string, reason: string) => (await core.listNamespacedEvent({ namespace: 'default' })).items.filter((e) => e.involvedObject.name === name && e.reason === reason);
const ready = (l: LocationObject) => l.status?.conditions?.find((c) => c.type === 'Ready');

describe('BackupLocation controller', () => {
  it('a directory location: Available (created when new), probed again only when due or changed; broken: Unavailable with an Event, and a Backup to it fails at once', async () => {
    const { ctx, clock } = testContext(api.kubeConfig());
    const dir = join(root, 'store', 'repos');
    await createLocation(ctx, 'dir', { filesystem: { path: dir } });

    const first = await step(ctx, 'dir');
    expect(first.location.status).toMatchObject({ phase: 'Available', lastValidationTime: new Date(clock.now()).toISOString().replace('.000', '') });
    expect(ready(first.location)).toMatchObject({ status: 'True', reason: 'Available', observedGeneration: first.location.metadata.generation });
    expect(first.requeueAfterMs).toBe(300_000);
    expect(await events('dir', 'LocationAvailable')).toHaveLength(0);

    // Broken (a file where the directory was), but not due yet: the last validation stands (no probe on every status write).
    await rm(dir, { recursive: true });
    await writeFile(dir, 'not a directory');
    clock.advance(100_000);
    const early = await step(ctx, 'dir');
    expect(early.location.status?.phase).toBe('Available');
    expect(early.requeueAfterMs).toBe(200_000);

    // Due: probed again, Unavailable with the reason and the fix, and an Event.
    clock.advance(200_000);
    const gone = await step(ctx, 'dir');
    expect(gone.location.status?.phase).toBe('Unavailable');
    expect(ready(gone.location)).toMatchObject({ status: 'False', reason: 'Unavailable', message: `BackupLocation dir: ${dir} is not a directory; point spec.filesystem.path at one` });
    expect((await events('dir', 'LocationUnavailable'))[0]?.message).toContain(`${dir} is not a directory`);

    // A Backup naming it fails before any volume is selected.
    const b = await ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'to-dir', namespace: 'shop', finalizers: ['ferry.dev/backup-cleanup'] }, spec: { location: 'dir' } });
    const d = await reconcileBackup(ctx, b);
    expect(d.status).toMatchObject({ phase: 'Failed', error: { code: 'LocationUnavailable', retriable: false } });
    expect(d.status?.error?.message).toMatch(/^Backup shop\/to-dir: BackupLocation dir is Unavailable \(checked .*\): BackupLocation dir: .* is not a directory.*; fix the location/);
    expect(await ctx.cluster.list('PodVolumeBackup', 'shop')).toHaveLength(0);

    // A spec change is validated at once, before the period is over.
    const other = join(root, 'other');
    await mkdir(other);
    await (ctx.cluster as unknown as { custom: { patchClusterCustomObject(o: unknown): Promise<unknown> } }).custom.patchClusterCustomObject({ ...group, name: 'dir', body: [{ op: 'replace', path: '/spec/filesystem/path', value: other }] });
    clock.advance(1_000);
    const fixed = await step(ctx, 'dir');
    expect(fixed.location.status?.phase).toBe('Available');
    expect(ready(fixed.location)?.observedGeneration).toBe(fixed.location.metadata.generation);
    expect(await events('dir', 'LocationAvailable')).toHaveLength(1);
  });

  it('a ReadOnly directory that does not exist is Unavailable (never created) and names the mount', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const dir = join(root, 'absent');
    await createLocation(ctx, 'ro', { filesystem: { path: dir }, accessMode: 'ReadOnly' });
    const r = await step(ctx, 'ro');
    expect(ready(r.location)).toMatchObject({ status: 'False', reason: 'Unavailable', message: `BackupLocation ro: ${dir} does not exist on the coordinator; the coordinator opens repositories there too, so mount the same path into it as into the agents` });
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an RGW bucket: the right credentials make it Available; a wrong secret key is Unavailable naming the S3 error; a missing Secret is CredentialsNotFound', async () => {
    const { ctx } = testContext(api.kubeConfig());
    const s3 = { bucket: bucket.bucket, endpoint: bucket.connection.endpoint, region: bucket.connection.region, forcePathStyle: true };
    await createLocation(ctx, 'rgw-good', { s3, credentialsSecretRef: { name: 's3-good' } });
    await createLocation(ctx, 'rgw-wrong', { s3, credentialsSecretRef: { name: 's3-wrong' } });
    await createLocation(ctx, 'rgw-nosecret', { s3, credentialsSecretRef: { name: 's3-absent' } });

    const good = await step(ctx, 'rgw-good');
    expect(good.location.status?.phase).toBe('Available');
    expect(ready(good.location)).toMatchObject({ status: 'True', reason: 'Available' });

    const wrong = await step(ctx, 'rgw-wrong');
    expect(wrong.location.status?.phase).toBe('Unavailable');
    expect(ready(wrong.location)).toMatchObject({ status: 'False', reason: 'Unavailable' });
    expect(ready(wrong.location)?.message).toMatch(/^BackupLocation rgw-wrong could not be reached \((AccessDenied|PermissionDenied|Unauthenticated|InvalidCredentials)\): .*check spec.s3 .* and the credentials in spec.credentialsSecretRef$/);
    expect(ready(wrong.location)?.message).not.toContain('not-the-secret-key-at-all');
    expect(await events('rgw-wrong', 'LocationUnavailable')).toHaveLength(1);

    const missing = await step(ctx, 'rgw-nosecret');
    expect(ready(missing.location)).toMatchObject({ status: 'False', reason: 'CredentialsNotFound', message: 'BackupLocation rgw-nosecret: Secret ferry-system/s3-absent does not exist; create it or fix the reference' });
  });
});

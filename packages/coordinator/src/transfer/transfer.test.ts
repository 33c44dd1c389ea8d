/**
 * Export and import between two clusters (two fake API servers, each with its own cluster
 * key) sharing one directory of real native repositories: the token's content and what it
 * hides, every key mode, wrong passwords, idempotent imports, the objects an import makes and
 * that the controllers leave them alone, and that the importing cluster's key then restores
 * the snapshots byte for byte.
 */
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { openStore } from '@ferry/blobstore';
import { createLogger } from '@ferry/log';
import { NativeMover } from '@ferry/mover';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { testContext } from '../context.fixture.js';
import { reconcileBackup } from '../controllers/backup.js';
import { reconcilePodVolumeBackup } from '../controllers/pod-volume-backup.js';
import { CoordinatorError } from '../errors.js';
import type { BackupObject, PvbObject } from '../objects.js';
import type { LocationObject, RepositoryObject } from '../repositories.js';
import type { TransferContext } from './context.js';
import { exportBackup, exportKey } from './export.js';
import { importBackup, importKey } from './import.js';
import { parseToken } from './token.js';
import { seedBackup } from './transfer.fixture.js';

const SYS = 'ferry-system';
const PASSWORD = 'correct horse battery staple';

interface Cluster {
  readonly api: FakeApiServer;
  readonly ctx: ReturnType<typeof testContext>['ctx'];
  readonly t: TransferContext;
  readonly events: () => Promise<string[]>;
  /** Every log line the transfer code wrote on this cluster (debug and up). */
  readonly logs: string[];
}

let root: string;
let one: Cluster;
let two: Cluster;
const masters = new Map<string, Buffer>();

async function startCluster(namespaces: readonly string[]): Promise<Cluster> {
  const api = await FakeApiServer.start();
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of [SYS, ...namespaces]) await core.createNamespace({ body: { metadata: { name } } });
  const { ctx } = testContext(api.kubeConfig());
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', write: (line) => void logs.push(line) });
  const t: TransferContext = { cluster: ctx.cluster, repositories: ctx.repositories, clock: ctx.clock, log, namespace: SYS, scryptN: 1024 };
  const events = async () => {
    const out: string[] = [];
    for (const ns of [SYS, ...namespaces]) for (const e of (await core.listNamespacedEvent({ namespace: ns })).items) out.push(`${e.reason}: ${e.message}`);
    return out;
  };
  return { api, ctx, t, events, logs };
}

/** On cluster one: a repository for `namespace` (its own master key, wrapped by cluster one's key) and a Completed Backup of `files`. */
async function backupOnOne(namespace: string, name: string, files: Record<string, string>): Promise<string[]> {
  const seeded = await seedBackup({ cluster: one.ctx.cluster, repositories: one.ctx.repositories, location: 'local', namespace, name, files, scratch: join(root, 'src') });
  masters.set(namespace, seeded.master);
  return seeded.snapshotIds;
}

async function failure(p: Promise<unknown>): Promise<CoordinatorError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof CoordinatorError)) throw new Error(`expected a CoordinatorError, got ${String(err)}`);
  return err;
}

/** Every rendering of the master key a leak could take. */
function keyForms(key: Buffer): string[] {
  return [key.toString('hex'), key.toString('base64'), key.toString('base64url')];
}

/** The token as text, its JSON, and the engine key token inside, decoded. */
function tokenTexts(token: string): string {
  const body = JSON.parse(Buffer.from(token, 'base64url').toString());
  const inner = body.key?.keyToken ? Buffer.from(body.key.keyToken, 'base64url').toString() : '';
  return [token, JSON.stringify(body), inner].join('\n');
}

/** Restores a snapshot with cluster two's key through the BackupRepository it imported. */
async function restoreOnTwo(repository: string, snapshotId: string, target: string): Promise<void> {
  const access = await two.ctx.repositories.jobRepository(repository, { initialize: false });
  const mover = new NativeMover({ store: openStore(access.location!), credential: { kind: 'cluster', key: Buffer.from(access.key!.clusterKey!) }, workers: 1 });
  await mover.restore({ snapshotId, target });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-transfer-'));
  one = await startCluster(['shop', 'web']);
  two = await startCluster(['shop', 'staging']);
  await one.ctx.cluster.createOrGet<LocationObject>('BackupLocation', { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: join(root, 'repos') } } });
});

afterAll(async () => {
  await one?.api.stop();
  await two?.api.stop();
  await rm(root, { recursive: true, force: true });
});

describe('export and import between two clusters', () => {
  let ids: string[] = [];
  let token = '';

  it('exports a backup with a password: location, repository, snapshot ids and a wrapped key, never the key itself', async () => {
    ids = await backupOnOne('shop', 'nightly', { data: 'data volume bytes', cache: 'cache volume bytes' });
    const result = await exportBackup(one.t, { namespace: 'shop', name: 'nightly', keyExport: 'password', password: PASSWORD, requester: 'alice' });
    token = result.token;
    expect(result).toMatchObject({ repository: 'local-shop', keyMode: 'password' });
    const parsed = parseToken(token);
    expect(parsed).toMatchObject({ kind: 'backup', location: { kind: 'filesystem', path: join(root, 'repos') }, repository: { path: 'shop', namespace: 'shop', mover: 'native' }, key: { mode: 'password' } });
    expect(parsed.backup!.volumes.map((v) => v.snapshotId).sort()).toEqual([...ids].sort());
    expect(parsed.backup!.volumes[0]).toMatchObject({ pod: { name: 'app-0', controller: { kind: 'StatefulSet', name: 'app' } }, phase: 'Completed' });
    const texts = tokenTexts(token);
    for (const form of keyForms(masters.get('shop')!)) expect(texts).not.toContain(form);
    expect(texts).not.toContain(PASSWORD);
    const events = await one.events();
    expect(events).toContain('Exported: exported by alice with key mode password (BackupRepository local-shop)');
  });

  it('refuses a plain key without force (FailedPrecondition with the reason), and a weak or missing password', async () => {
    const plain = await failure(exportBackup(one.t, { namespace: 'shop', name: 'nightly', keyExport: 'plain' }));
    expect(plain.code).toBe('FailedPrecondition');
    expect(plain.message).toMatch(/anyone who reads the token can decrypt every snapshot/);
    expect((await failure(exportBackup(one.t, { namespace: 'shop', name: 'nightly', keyExport: 'password', password: 'short' }))).message).toMatch(/at least 12 characters/);
    expect((await failure(exportBackup(one.t, { namespace: 'shop', name: 'nightly', keyExport: undefined }))).code).toBe('InvalidArgument');
    expect((await failure(exportBackup(one.t, { namespace: 'shop', name: 'missing', keyExport: 'none' }))).code).toBe('NotFound');
  });

  it('a wrong password names the token, echoes nothing secret, and leaves nothing behind on the importing cluster', async () => {
    const err = await failure(importBackup(two.t, { token, password: 'not the right password' }));
    expect(err.code).toBe('InvalidArgument');
    expect(err.message).toMatch(/wrong password for the transfer token of the repository at .*repos\/shop/);
    expect(err.message).not.toContain('not the right password');
    for (const form of keyForms(masters.get('shop')!)) expect(err.message).not.toContain(form);
    expect(await two.ctx.cluster.list('BackupLocation')).toEqual([]);
    expect(await two.ctx.cluster.list('BackupRepository')).toEqual([]);
    expect(await two.ctx.cluster.list('Backup', 'shop')).toEqual([]);
    expect((await failure(importBackup(two.t, { token }))).message).toMatch(/wrapped for a password; give the password/);
  });

  it('imports: a ReadOnly location, the repository with its path and id, a Completed Backup and its volumes, all labelled imported', async () => {
    const result = await importBackup(two.t, { token, password: PASSWORD, requester: 'bob' });
    expect(result.key).toBe('added');
    const location = (await two.ctx.cluster.get<LocationObject>('BackupLocation', '', result.location))!;
    expect(location.metadata.name).toMatch(/^imported-repos-[0-9a-f]{8}$/);
    expect(location.spec).toMatchObject({ filesystem: { path: join(root, 'repos') }, accessMode: 'ReadOnly' });
    expect(location.metadata.labels).toMatchObject({ 'ferry.dev/imported': 'true' });
    const repo = (await two.ctx.cluster.get<RepositoryObject>('BackupRepository', SYS, result.repository))!;
    expect(repo.spec).toMatchObject({ location: result.location, namespace: 'shop', path: 'shop', mover: 'native', repositoryId: parseToken(token).repository.repositoryId });
    const backup = (await two.ctx.cluster.get<BackupObject>('Backup', 'shop', 'nightly'))!;
    expect(backup.metadata.labels).toMatchObject({ 'ferry.dev/imported': 'true' });
    expect(backup.metadata.annotations).toMatchObject({ 'ferry.dev/imported-from': 'shop/nightly' });
    expect(backup.status).toMatchObject({ phase: 'Completed', location: result.location, completionTimestamp: '2024-05-01T10:00:00Z', counts: { total: 2, completed: 2 } });
    const pvbs = await two.ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=nightly');
    expect(pvbs.map((p) => p.status?.snapshotId).sort()).toEqual([...ids].sort());
    for (const p of pvbs) {
      expect(p.status?.phase).toBe('Completed');
      expect(p.spec.repository).toBe(result.repository);
      expect(p.metadata.labels).toMatchObject({ 'ferry.dev/imported': 'true' });
    }
    expect((await two.events()).some((e) => e.startsWith('Imported: imported by bob from Backup shop/nightly'))).toBe(true);
  });

  it('the controllers leave imported objects alone (no pods are looked for, no agent is asked)', async () => {
    const backup = (await two.ctx.cluster.get<BackupObject>('Backup', 'shop', 'nightly'))!;
    const fresh = { ...backup, metadata: { ...backup.metadata, finalizers: ['ferry.dev/backup-cleanup'] }, status: {} };
    expect(await reconcileBackup(two.ctx, fresh)).toEqual({});
    const pvb = (await two.ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=nightly'))[0]!;
    expect(await reconcilePodVolumeBackup(two.ctx, { ...pvb, status: {} })).toEqual({});
  });

  it("cluster two's own key now opens the repository and restores the snapshots byte for byte", async () => {
    const repo = (await two.ctx.cluster.list<RepositoryObject>('BackupRepository', SYS))[0]!;
    const pvbs = await two.ctx.cluster.list<PvbObject>('PodVolumeBackup', 'shop', 'ferry.dev/backup=nightly');
    for (const p of pvbs) {
      const target = join(root, 'restored', p.spec.volume.name);
      await restoreOnTwo(repo.metadata.name!, p.status!.snapshotId!, target);
      expect(await readFile(join(target, 'file.txt'), 'utf8')).toBe(`${p.spec.volume.name} volume bytes`);
    }
  });

  it('importing again changes nothing and reports the key as present', async () => {
    const before = await two.ctx.cluster.list<BackupObject>('Backup', 'shop');
    const again = await importBackup(two.t, { token, password: PASSWORD });
    expect(again.key).toBe('present');
    expect((await two.ctx.cluster.list<BackupObject>('Backup', 'shop')).map((b) => b.metadata.uid)).toEqual(before.map((b) => b.metadata.uid));
    expect(await two.ctx.cluster.list('BackupLocation')).toHaveLength(1);
    expect((await readdirKeys('shop')).length).toBe(2);
  });

  it('imports into another namespace: volumes are restored there', async () => {
    const r = await importBackup(two.t, { token, password: PASSWORD, namespace: 'staging' });
    expect(r.repository).toBe(`${r.location}-staging-${parseToken(token).repository.repositoryId.slice(0, 12)}`);
    const pvbs = await two.ctx.cluster.list<PvbObject>('PodVolumeBackup', 'staging', 'ferry.dev/backup=nightly');
    expect(pvbs.map((p) => p.spec.pod.namespace)).toEqual(['staging', 'staging']);
  });

  it('names the missing namespace (FailedPrecondition) when the target namespace does not exist', async () => {
    const err = await failure(importBackup(two.t, { token, password: PASSWORD, namespace: 'nowhere' }));
    expect(err.code).toBe('FailedPrecondition');
    expect(err.message).toBe('namespace nowhere does not exist on this cluster; create it (kubectl create namespace nowhere) or import into another namespace');
  });

  it('refuses to take over a Backup of the same name that is not this import', async () => {
    await two.ctx.cluster.delete('Backup', 'staging', 'nightly');
    await two.ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'nightly', namespace: 'staging' }, spec: {} });
    const err = await failure(importBackup(two.t, { token, password: PASSWORD, namespace: 'staging' }));
    expect(err.code).toBe('AlreadyExists');
    expect(err.message).toMatch(/Backup staging\/nightly already exists and is not an import of shop\/nightly/);
  });

  it('KEY_EXPORT_NONE needs the key on the importing cluster first: ExportKey, then ImportKey, then the backup imports', async () => {
    const webIds = await backupOnOne('web', 'weekly', { assets: 'assets volume bytes' });
    const bare = (await exportBackup(one.t, { namespace: 'web', name: 'weekly', keyExport: 'none' })).token;
    expect(parseToken(bare).key).toEqual({ mode: 'none' });
    const refused = await failure(importBackup(two.t, { token: bare }));
    expect(refused.code).toBe('FailedPrecondition');
    expect(refused.message).toMatch(/carries no key and this cluster's key does not open .*repos\/web; import the key first/);

    const keyToken = (await exportKey(one.t, { namespace: 'web', keyExport: 'password', password: PASSWORD })).token;
    expect(parseToken(keyToken)).toMatchObject({ kind: 'key', repository: { path: 'web', namespace: 'web' } });
    for (const form of keyForms(masters.get('web')!)) expect(tokenTexts(keyToken)).not.toContain(form);
    expect((await failure(importKey(two.t, { token: keyToken, password: 'a wrong password here' }))).message).toMatch(/wrong password for the transfer token/);
    const imported = await importKey(two.t, { token: keyToken, password: PASSWORD });
    expect(imported).toMatchObject({ key: 'added', repository: { spec: { namespace: 'web', path: 'web' } } });
    expect((await importKey(two.t, { token: keyToken, password: PASSWORD, repository: imported.repository.metadata.name! })).key).toBe('present');

    await two.api.kubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'web' } } });
    const r = await importBackup(two.t, { token: bare });
    expect(r).toMatchObject({ key: 'present', repository: imported.repository.metadata.name });
    await restoreOnTwo(r.repository, webIds[0]!, join(root, 'restored-web'));
    expect(await readFile(join(root, 'restored-web', 'file.txt'), 'utf8')).toBe('assets volume bytes');
  });

  it('a plain key with force is in the token, and imports without a password', async () => {
    const t = (await exportKey(one.t, { namespace: 'shop', keyExport: 'plain', force: true })).token;
    expect(tokenTexts(t)).toContain(masters.get('shop')!.toString('base64'));
    const warning = one.logs.map((l) => JSON.parse(l)).find((l) => l.level === 'warn');
    expect(warning).toMatchObject({ msg: 'exported BackupRepository ferry-system/local-shop with its key in plain', keyMode: 'plain' });
    const three = await startCluster(['shop']);
    try {
      await three.ctx.cluster.createOrGet<LocationObject>('BackupLocation', { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'mine' }, spec: { filesystem: { path: join(root, 'repos') } } });
      expect((await importKey(three.t, { token: t })).repository.metadata.name).toBe(`imported-mine-shop-${parseToken(t).repository.repositoryId.slice(0, 12)}`);
    } finally {
      await three.api.stop();
    }
  });

  it('rejects a key token in ImportBackup and a backup token of a multi-namespace Backup at export', async () => {
    const keyOnly = (await exportKey(one.t, { namespace: 'shop', keyExport: 'password', password: PASSWORD })).token;
    expect((await failure(importBackup(two.t, { token: keyOnly, password: PASSWORD }))).message).toMatch(/this is a key token/);
    const b = await one.ctx.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'all', namespace: SYS }, spec: { namespaces: ['shop', 'web'] } });
    await one.ctx.cluster.replaceStatus('Backup', b, { phase: 'Completed' });
    for (const [i, repository] of ['local-shop', 'local-web'].entries()) {
      const p = await one.ctx.cluster.createOrGet<PvbObject>('PodVolumeBackup', { metadata: { name: `all-${i}`, namespace: SYS, labels: { 'ferry.dev/backup': 'all' } }, spec: { backup: 'all', pod: { namespace: 'shop', name: 'p', uid: 'u' }, node: 'n', volume: { name: 'v', kind: 'emptyDir' }, repository, mover: 'native' } });
      await one.ctx.cluster.replaceStatus('PodVolumeBackup', p, { phase: 'Completed', snapshotId: ids[0] });
    }
    expect((await failure(exportBackup(one.t, { namespace: SYS, name: 'all', keyExport: 'none' }))).message).toMatch(/spans 2 repositories \(local-shop, local-web\)/);
  });

  it("an import into another namespace of the same cluster is its own repository: that namespace's new backups never go into the exporter's", async () => {
    await one.api.kubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'other' } } });
    const bare = (await exportBackup(one.t, { namespace: 'shop', name: 'nightly', keyExport: 'none' })).token;
    const r = await importBackup(one.t, { token: bare, namespace: 'other' });
    const imported = (await one.ctx.cluster.get<RepositoryObject>('BackupRepository', SYS, r.repository))!;
    expect(imported.spec).toMatchObject({ path: 'shop', namespace: 'other' });
    expect(imported.metadata.labels).toMatchObject({ 'ferry.dev/imported': 'true' });
    const local = (await one.ctx.cluster.get<LocationObject>('BackupLocation', '', 'local'))!;
    const own = await one.ctx.repositories.ensure(local, 'other', 'native');
    expect(own.metadata.name).toBe('local-other');
    expect(own.metadata.name).not.toBe(r.repository);
    expect(own.spec.path).toBe('other');
    expect(own.spec.repositoryId).toBeUndefined();
  });

  it("ImportKey into a named repository: it must hold the named namespace and sit at the token's location and path; a refusal changes nothing", async () => {
    await one.api.kubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'billing' } } });
    await backupOnOne('billing', 'monthly', { ledger: 'ledger volume bytes' });
    const billing = (await exportKey(one.t, { namespace: 'billing', keyExport: 'password', password: PASSWORD })).token;
    const imported = (await two.ctx.cluster.list<LocationObject>('BackupLocation'))[0]!;
    // At the token's location and path, but registered for staging.
    const staging = await two.ctx.repositories.ensureImported(imported, 'staging', { path: 'billing', repositoryId: parseToken(billing).repository.repositoryId });
    const shop = (await two.ctx.cluster.list<RepositoryObject>('BackupRepository', SYS)).find((r) => r.spec.namespace === 'shop')!;
    const elsewhere = await two.ctx.cluster.createOrGet<LocationObject>('BackupLocation', { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'elsewhere' }, spec: { filesystem: { path: join(root, 'elsewhere') } } });
    const sameName = await two.ctx.repositories.ensure(elsewhere, 'billing', 'native');
    const state = async () => ({ keys: await readdirKeys('billing'), repositories: (await two.ctx.cluster.list<RepositoryObject>('BackupRepository', SYS)).map((r) => `${r.metadata.name}@${r.metadata.resourceVersion}`).sort() });
    const before = await state();
    expect(before.keys).toHaveLength(1);

    const otherNamespace = await failure(importKey(two.t, { token: billing, password: PASSWORD, repository: staging.metadata.name!, namespace: 'billing' }));
    expect(otherNamespace.code).toBe('NotFound');
    expect(otherNamespace.message).toBe(`BackupRepository ${SYS}/${staging.metadata.name} does not hold namespace billing`);
    const otherPath = await failure(importKey(two.t, { token: billing, password: PASSWORD, repository: shop.metadata.name! }));
    expect(otherPath.code).toBe('FailedPrecondition');
    expect(otherPath.message).toBe(`BackupRepository ${SYS}/${shop.metadata.name} is at ${join(root, 'repos')} path shop, but the token's repository is at ${join(root, 'repos')} path billing; name the matching repository or leave it out`);
    const otherLocation = await failure(importKey(two.t, { token: billing, password: PASSWORD, repository: sameName.metadata.name!, namespace: 'billing' }));
    expect(otherLocation.code).toBe('FailedPrecondition');
    expect(otherLocation.message).toBe(`BackupRepository ${SYS}/elsewhere-billing is at ${join(root, 'elsewhere')} path billing, but the token's repository is at ${join(root, 'repos')} path billing; name the matching repository or leave it out`);
    expect(await state()).toEqual(before);
    await expect(access(join(root, 'elsewhere'))).rejects.toThrow(/ENOENT/);

    // The repository that does hold staging takes the key: only the namespace kept it out above.
    expect((await importKey(two.t, { token: billing, password: PASSWORD, repository: staging.metadata.name!, namespace: 'staging' })).key).toBe('added');
    expect(await readdirKeys('billing')).toHaveLength(2);
  });

  it('no key, cluster key or password ever reached a log line, an Event or a status on either cluster', async () => {
    const secrets = [PASSWORD, ...[...masters.values()].flatMap(keyForms)];
    for (const c of [one, two]) {
      secrets.push(...keyForms(await c.ctx.repositories.clusterKey()));
      const objects = [];
      for (const kind of ['BackupLocation', 'BackupRepository', 'Backup', 'PodVolumeBackup'] as const) objects.push(...(await c.ctx.cluster.list(kind)));
      const text = [...c.logs, ...(await c.events()), JSON.stringify(objects)].join('\n');
      expect(c.logs.length).toBeGreaterThan(0);
      for (const s of secrets) expect(text).not.toContain(s);
    }
  });
});

async function readdirKeys(path: string): Promise<string[]> {
  return readdir(join(root, 'repos', path, 'keys'));
}

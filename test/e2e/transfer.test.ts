/**
 * End to end between two clusters sharing ONE RGW bucket (each cluster's own location under
 * its own prefix): each has a fake API server, a real coordinator and a real agent, and the
 * transfer calls go to the coordinators' public gRPC API (TLS, a bearer token checked by
 * TokenReview, SubjectAccessReview). Cluster one backs up a StatefulSet; ExportBackup with a
 * password; ImportBackup on cluster two
 * (a wrong password first: refused, nothing created); a normal Restore there into fresh pods
 * brings the data back bit-identical. Then a second namespace: KEY_EXPORT_NONE is refused
 * until ExportKey/ImportKey moved the key, after which it imports and restores too. Last, the
 * keys (both repositories' master keys, both cluster keys) and the passwords are looked for
 * in the token, every process log, every Event and every object's status: never there.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, status } from '@grpc/grpc-js';
import type { TransferClient } from '../../packages/api/src/index.js';
import { Repository } from '../../packages/repository/src/index.js';
import { bearer, invoke, loadClientProtos } from '../../packages/coordinator/src/api/api.fixture.js';
import { KubeClusterState } from '../../packages/coordinator/src/cluster/kube-state.js';
import { storeOf } from '../../packages/coordinator/src/purge.js';
import { Repositories } from '../../packages/coordinator/src/repositories.js';
import { createTestBucket, type TestBucket } from '../support/s3.js';
import { E2eCluster, fillVolume, SYS, volumeManifest } from './cluster.fixture.js';

const PASSWORD = 'export password for cluster two';
const WRONG = 'this is not the export password';

const OPS_TOKEN = 'ops-token';
/** The operator who moves backups: every Ferry resource in every namespace, nothing else. */
const auth = { tokens: { [OPS_TOKEN]: { username: 'olivia', groups: ['ferry-operators'] } }, policy: [{ groups: ['ferry-operators'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['*'] }] };
const protos = loadClientProtos();

let root: string;
let bucket: TestBucket;
let one: E2eCluster;
let two: E2eCluster;
const clients = new Map<E2eCluster, TransferClient>();
const tokens: string[] = [];

function transfer(c: E2eCluster): TransferClient {
  let client = clients.get(c);
  if (!client) clients.set(c, (client = new protos.ferry.v1.Transfer(c.apiAddress, credentials.createSsl(readFileSync(c.caFile)))));
  return client;
}

type Method = 'ExportBackup' | 'ImportBackup' | 'ExportKey' | 'ImportKey';

/** One Transfer call as the operator; resolves with the response, or the gRPC error's code and details. */
async function call<Res>(c: E2eCluster, method: Method, req: object): Promise<{ res?: Res; code?: number; details?: string }> {
  const client = transfer(c);
  const r = await invoke(client[method] as never, client, req as never, bearer(OPS_TOKEN));
  return r.err ? { code: r.err.code, details: r.err.details } : { res: r.res as Res };
}

async function ok<Res>(c: E2eCluster, method: Method, req: object): Promise<Res> {
  const r = await call<Res>(c, method, req);
  if (r.code !== undefined) throw new Error(`${method} failed: ${r.code} ${r.details}`);
  return r.res!;
}

/** Backs up the StatefulSet `db` of `ns` on cluster one; returns each volume's manifest. */
async function backUpOnOne(ns: string, backup: string): Promise<Map<string, Record<string, string>>> {
  await one.createStatefulSet(ns, 'db');
  const [pod] = await one.runningPods(ns, 1);
  const before = new Map<string, Record<string, string>>();
  for (const v of ['cache', 'data']) {
    await fillVolume(one.volumeDir(pod!, v), `${ns}-${v}`, 200);
    before.set(v, await volumeManifest(one.volumeDir(pod!, v)));
  }
  await one.create('backups', { kind: 'Backup', metadata: { name: backup }, spec: {} }, ns);
  const done = await one.waitPhase('backups', backup, ns, ['Completed', 'PartiallyFailed', 'Failed'], 90_000);
  expect(done.status!.phase, JSON.stringify(done.status)).toBe('Completed');
  return before;
}

/** A Restore of `backup` on cluster two, then the StatefulSet created there; the data must match `before`. */
async function restoreOnTwo(ns: string, backup: string, before: Map<string, Record<string, string>>): Promise<void> {
  await two.create('restores', { kind: 'Restore', metadata: { name: `restore-${backup}` }, spec: { backupName: backup } }, ns);
  await two.waitPhase('restores', `restore-${backup}`, ns, ['InProgress'], 20_000);
  await two.createStatefulSet(ns, 'db');
  const [pod] = await two.runningPods(ns, 1);
  expect(pod!.spec?.initContainers?.[0]?.name).toBe('ferry-restore-wait');
  const r = await two.waitPhase('restores', `restore-${backup}`, ns, ['Completed', 'PartiallyFailed', 'Failed'], 60_000);
  expect(r.status!.phase, JSON.stringify(r.status)).toBe('Completed');
  expect(r.status!.counts).toMatchObject({ total: 2, completed: 2 });
  for (const v of ['cache', 'data']) expect(await volumeManifest(two.volumeDir(pod!, v)), v).toEqual(before.get(v));
}

/** The repositories of a cluster, read directly (to look for keys where they must not be). */
function repositoriesOf(c: E2eCluster): Repositories {
  return new Repositories({ cluster: new KubeClusterState(c.kc), namespace: SYS });
}

/** A repository's master key, read with cluster one's key. */
async function masterKey(repository: string): Promise<Buffer> {
  const access = await repositoriesOf(one).jobRepository(repository, { initialize: false });
  const repo = await Repository.open({ store: storeOf(access), credential: { kind: 'cluster', key: Buffer.from(access.key!.clusterKey!) }, workers: 1 });
  try {
    return Buffer.from(repo.secrets.master);
  } finally {
    await repo.close();
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-e2e-transfer-'));
  bucket = await createTestBucket({ namePrefix: 'ferry-transfer' });
  one = await E2eCluster.start({ root: join(root, 'one'), nodes: ['node-a'], namespaces: ['shop', 'web'], bucket, prefix: 'cluster-one', auth });
  two = await E2eCluster.start({ root: join(root, 'two'), nodes: ['node-x'], namespaces: ['shop', 'web'], bucket, prefix: 'cluster-two', auth });
}, 120_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await one?.stop();
  await two?.stop();
  await bucket?.cleanup().catch(() => undefined);
  if (process.env['FERRY_E2E_KEEP'] === undefined) await rm(root, { recursive: true, force: true });
}, 60_000);

interface TokenRes { token: string }
interface ImportRes { location: string; repository: string; backup: { name: string; phase: string } }

describe('export and import between two clusters sharing one bucket', () => {
  let shop = new Map<string, Record<string, string>>();
  let token = '';

  it('backs up on cluster one and exports the backup with a password', async () => {
    shop = await backUpOnOne('shop', 'b1');
    token = (await ok<TokenRes>(one, 'ExportBackup', { namespace: 'shop', name: 'b1', keyExport: 'KEY_EXPORT_PASSWORD', password: PASSWORD })).token;
    tokens.push(token);
    const body = JSON.parse(Buffer.from(token, 'base64url').toString());
    expect(body).toMatchObject({ v: 1, kind: 'backup', location: { kind: 's3', bucket: bucket.bucket, prefix: 'cluster-one' }, repository: { path: 'shop' }, key: { mode: 'password' } });
    expect(body.backup.volumes).toHaveLength(2);
    const plain = await call(one, 'ExportBackup', { namespace: 'shop', name: 'b1', keyExport: 'KEY_EXPORT_PLAIN' });
    expect(plain.code).toBe(status.FAILED_PRECONDITION);
    expect(plain.details).toMatch(/in plain: anyone who reads the token can decrypt every snapshot/);
  }, 120_000);

  it('refuses a wrong password on cluster two, naming the token, and creates nothing', async () => {
    const r = await call(two, 'ImportBackup', { token, password: WRONG, credentialsSecret: 'rgw-credentials' });
    expect(r.code).toBe(status.INVALID_ARGUMENT);
    expect(r.details).toMatch(/wrong password for the transfer token of the repository at s3:.*cluster-one\/shop/);
    expect(await two.list('backups', 'shop')).toEqual([]);
    expect(((await two.custom.listClusterCustomObject({ group: 'ferry.dev', version: 'v1alpha1', plural: 'backuplocations' })) as { items: unknown[] }).items).toHaveLength(1);
  });

  it('imports on cluster two and a normal Restore brings the data back bit-identical into fresh pods', async () => {
    const r = await ok<ImportRes>(two, 'ImportBackup', { token, password: PASSWORD, credentialsSecret: 'rgw-credentials' });
    expect(r).toMatchObject({ repository: expect.stringMatching(new RegExp(`^${r.location}-shop-[0-9a-f]{12}$`)), backup: { name: 'b1', phase: 'Completed' } });
    const backup = await two.get('backups', 'b1', 'shop');
    expect(backup.metadata.labels).toMatchObject({ 'ferry.dev/imported': 'true' });
    await restoreOnTwo('shop', 'b1', shop);
    // Cluster two never ran the backup: the imported volumes kept their status and no agent job was made for them.
    for (const p of await two.list('podvolumebackups', 'shop')) expect(p.status?.attempt).toBeUndefined();
  }, 150_000);

  it('KEY_EXPORT_NONE is refused until ExportKey/ImportKey moved the key; then it imports and restores', async () => {
    const web = await backUpOnOne('web', 'w1');
    const bare = (await ok<TokenRes>(one, 'ExportBackup', { namespace: 'web', name: 'w1', keyExport: 'KEY_EXPORT_NONE' })).token;
    const refused = await call(two, 'ImportBackup', { token: bare });
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.details).toMatch(/carries no key and this cluster's key does not open/);
    const keyToken = (await ok<TokenRes>(one, 'ExportKey', { namespace: 'web', keyExport: 'KEY_EXPORT_PASSWORD', password: PASSWORD })).token;
    tokens.push(bare, keyToken);
    const wrong = await call(two, 'ImportKey', { token: keyToken, password: WRONG });
    expect(wrong.details).toMatch(/wrong password for the transfer token/);
    const k = await ok<{ repository: { name: string } }>(two, 'ImportKey', { token: keyToken, password: PASSWORD });
    const r = await ok<ImportRes>(two, 'ImportBackup', { token: bare });
    expect(r.repository).toBe(k.repository.name);
    await restoreOnTwo('web', 'w1', web);
  }, 200_000);

  it('no key material or password in the tokens, any log, any Event or any status', async () => {
    const secrets = [PASSWORD, WRONG];
    for (const repository of ['rgw-shop', 'rgw-web']) {
      const key = await masterKey(repository);
      secrets.push(key.toString('hex'), key.toString('base64'), key.toString('base64url'));
    }
    const texts: string[] = [];
    for (const t of tokens) {
      const body = JSON.parse(Buffer.from(t, 'base64url').toString());
      texts.push(t, JSON.stringify(body), body.key.keyToken ? Buffer.from(body.key.keyToken, 'base64url').toString() : '');
    }
    for (const c of [one, two]) {
      const clusterKey = await repositoriesOf(c).clusterKey();
      secrets.push(clusterKey.toString('hex'), clusterKey.toString('base64'));
      for (const f of c.logFiles) texts.push(await readFile(f, 'utf8'));
      for (const ns of [SYS, 'shop', 'web']) {
        texts.push(JSON.stringify((await c.core.listNamespacedEvent({ namespace: ns })).items.map((e) => e.message)));
        for (const plural of ['backups', 'podvolumebackups', 'restores', 'podvolumerestores', 'backuprepositories']) texts.push(JSON.stringify(await c.list(plural, ns)));
      }
    }
    const all = texts.join('\n');
    // The coordinators did log the transfers (so the logs searched are the right ones).
    expect(all).toContain('exported Backup shop/b1');
    expect(all).toContain('imported Backup shop/b1');
    for (const s of secrets) expect(all.includes(s), `a secret (${s.length} chars) leaked`).toBe(false);
  }, 60_000);
});

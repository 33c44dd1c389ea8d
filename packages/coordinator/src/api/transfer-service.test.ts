/**
 * ferry.v1.Transfer over real gRPC with TLS: two API servers on two fake API servers (two
 * clusters, two cluster keys) sharing a directory of real native repositories. Export and
 * import round trip; each RPC authorized by SubjectAccessReview on the resources its doc
 * names; failures mapped to gRPC status with the reason and without key material.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import type { TransferClient } from '@ferry/api';
import { FakeApiServer } from '../../../../test/fake-cluster/index.js';
import { systemClock } from '../clock.js';
import { KubeClusterState } from '../cluster/kube-state.js';
import type { BackupObject, PvbObject } from '../objects.js';
import type { LocationObject } from '../repositories.js';
import { seedBackup } from '../transfer/transfer.fixture.js';
import { bearer, invoke, loadClientProtos, makeApiCerts, startApi, tlsCredentials, type RunningApi } from './api.fixture.js';

const protos = loadClientProtos();
const PASSWORD = 'a long enough export password';
const OPERATOR = { 'token-ops': { username: 'olivia', groups: ['ops'] } };
const TEAM = { 'token-dev': { username: 'dan', groups: ['devs'] } };
/** Reads Backups and repositories in the coordinator's namespace only. */
const SYSTEM_READER = { 'token-sys': { username: 'sam' } };
/** A tenant of the first cluster who may create Backups and repositories, and read repositories, in mallory only. */
const TENANT = { 'token-mallory': { username: 'mallory' } };

interface Side {
  readonly fake: FakeApiServer;
  readonly cluster: KubeClusterState;
  readonly api: RunningApi;
  readonly client: TransferClient;
}

let dir: string;
let one: Side;
let two: Side;
let master: Buffer;
let seededSnapshots: string[];

async function side(name: string, options: Parameters<typeof FakeApiServer.start>[0]): Promise<Side> {
  const fake = await FakeApiServer.start(options);
  const cluster = new KubeClusterState(fake.kubeConfig());
  const certs = makeApiCerts(await mkdtemp(join(dir, `${name}-`)));
  const api = await startApi({ cluster, clock: systemClock, certs });
  return { fake, cluster, api, client: new protos.ferry.v1.Transfer(`localhost:${api.port}`, tlsCredentials(certs)) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-transfer-api-'));
  const namespaces = ['ferry-system', 'shop'];
  one = await side('one', {
    namespaces: [...namespaces, 'mallory'],
    tokens: { ...OPERATOR, ...TEAM, ...SYSTEM_READER, ...TENANT },
    policy: [
      { groups: ['ops'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['*'] },
      { groups: ['devs'], verbs: ['get'], apiGroups: ['ferry.dev'], resources: ['backups'], namespaces: ['shop'] },
      { users: ['sam'], verbs: ['get'], apiGroups: ['ferry.dev'], resources: ['backups', 'backuprepositories'], namespaces: ['ferry-system'] },
      { users: ['mallory'], verbs: ['create'], apiGroups: ['ferry.dev'], resources: ['backups', 'backuprepositories'], namespaces: ['mallory'] },
      { users: ['mallory'], verbs: ['get'], apiGroups: ['ferry.dev'], resources: ['backuprepositories'], namespaces: ['mallory'] },
    ],
  });
  two = await side('two', {
    namespaces,
    tokens: { ...OPERATOR, ...TEAM },
    policy: [
      { groups: ['ops'], verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['*'] },
      { groups: ['devs'], verbs: ['create'], apiGroups: ['ferry.dev'], resources: ['backups', 'backuprepositories'], namespaces: ['shop'] },
    ],
  });
  await one.cluster.createOrGet<LocationObject>('BackupLocation', { apiVersion: 'ferry.dev/v1alpha1', kind: 'BackupLocation', metadata: { name: 'local' }, spec: { default: true, filesystem: { path: join(dir, 'repos') } } });
  const seeded = await seedBackup({ cluster: one.cluster, repositories: one.api.context.repositories, location: 'local', namespace: 'shop', name: 'nightly', files: { data: 'bytes of data' }, scratch: join(dir, 'src') });
  master = seeded.master;
  seededSnapshots = seeded.snapshotIds;
}, 60_000);

afterAll(async () => {
  for (const s of [one, two]) {
    s?.client.close();
    await s?.api.stop();
    await s?.fake.stop();
  }
  await rm(dir, { recursive: true, force: true });
});

describe('ferry.v1.Transfer', () => {
  let token = '';

  it('ExportBackup needs get on backuprepositories too: the key opens the whole namespace', async () => {
    const denied = await invoke(one.client.ExportBackup, one.client, { namespace: 'shop', name: 'nightly', keyExport: 'KEY_EXPORT_PASSWORD', password: PASSWORD }, bearer('token-dev'));
    expect(denied.err?.code).toBe(status.PERMISSION_DENIED);
    expect(denied.err?.details).toMatch(/user dan may not get backuprepositories\.ferry\.dev in namespace shop/);
  });

  it("ExportBackup of a coordinator-namespace Backup that holds shop's volumes needs get on shop's repositories", async () => {
    const b = await one.cluster.createOrGet<BackupObject>('Backup', { metadata: { name: 'all-apps', namespace: 'ferry-system' }, spec: { namespaces: ['shop'] } });
    await one.cluster.replaceStatus('Backup', b, { phase: 'Completed' });
    const pvb = await one.cluster.createOrGet<PvbObject>('PodVolumeBackup', { metadata: { name: 'all-apps-0', namespace: 'ferry-system', labels: { 'ferry.dev/backup': 'all-apps' } }, spec: { backup: 'all-apps', pod: { namespace: 'shop', name: 'app-0', uid: 'u' }, node: 'node-a', volume: { name: 'data', kind: 'emptyDir' }, repository: 'local-shop', mover: 'native' } });
    await one.cluster.replaceStatus('PodVolumeBackup', pvb, { phase: 'Completed', snapshotId: seededSnapshots[0] });
    const denied = await invoke(one.client.ExportBackup, one.client, { namespace: 'ferry-system', name: 'all-apps', keyExport: 'KEY_EXPORT_PASSWORD', password: PASSWORD }, bearer('token-sys'));
    expect(denied.err?.code).toBe(status.PERMISSION_DENIED);
    expect(denied.err?.details).toMatch(/user sam may not get backuprepositories\.ferry\.dev in namespace shop/);
    expect((await invoke(one.client.ExportBackup, one.client, { namespace: 'ferry-system', name: 'all-apps', keyExport: 'KEY_EXPORT_PASSWORD', password: PASSWORD }, bearer('token-ops'))).err).toBeUndefined();
  });

  it('refuses a plain key without force with FAILED_PRECONDITION and the reason', async () => {
    const r = await invoke(one.client.ExportBackup, one.client, { namespace: 'shop', name: 'nightly', keyExport: 'KEY_EXPORT_PLAIN' }, bearer('token-ops'));
    expect(r.err?.code).toBe(status.FAILED_PRECONDITION);
    expect(r.err?.details).toMatch(/refusing to put the key of BackupRepository ferry-system\/local-shop in the token in plain.*set force/);
    const none = await invoke(one.client.ExportBackup, one.client, { namespace: 'shop', name: 'nightly' }, bearer('token-ops'));
    expect(none.err?.code).toBe(status.INVALID_ARGUMENT);
  });

  it('exports with a password and records who did it', async () => {
    const r = await invoke(one.client.ExportBackup, one.client, { namespace: 'shop', name: 'nightly', keyExport: 'KEY_EXPORT_PASSWORD', password: PASSWORD }, bearer('token-ops'));
    expect(r.err).toBeUndefined();
    token = r.res!.token;
    expect(Buffer.from(token, 'base64url').toString()).not.toContain(master.toString('base64'));
  });

  it('ImportBackup: a namespace user may not make a new location from a coordinator Secret', async () => {
    const r = await invoke(two.client.ImportBackup, two.client, { token, password: PASSWORD, credentialsSecret: 'rgw' }, bearer('token-dev'));
    expect(r.err?.code).toBe(status.PERMISSION_DENIED);
    expect(r.err?.details).toMatch(/may not create backuplocations\.ferry\.dev in all namespaces/);
  });

  it('a wrong password is INVALID_ARGUMENT naming the token and echoing neither password nor key', async () => {
    const r = await invoke(two.client.ImportBackup, two.client, { token, password: 'the wrong password!' }, bearer('token-dev'));
    expect(r.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(r.err?.details).toMatch(/wrong password for the transfer token/);
    expect(r.err?.details).not.toContain('the wrong password!');
    expect(r.err?.details).not.toContain(master.toString('base64'));
    const malformed = await invoke(two.client.ImportBackup, two.client, { token: `${token.slice(0, 40)}$`, password: PASSWORD }, bearer('token-dev'));
    expect(malformed.err?.code).toBe(status.INVALID_ARGUMENT);
    expect(malformed.err?.details).toMatch(/the transfer token is invalid/);
  });

  it('imports (filesystem location: no credentials needed) and answers with the Backup, location and repository', async () => {
    const r = await invoke(two.client.ImportBackup, two.client, { token, password: PASSWORD }, bearer('token-dev'));
    expect(r.err).toBeUndefined();
    expect(r.res!.repository).toMatch(new RegExp(`^${r.res!.location}-shop-[0-9a-f]{12}$`));
    expect(r.res!.backup).toMatchObject({ namespace: 'shop', name: 'nightly', phase: 'Completed' });
    expect((await two.cluster.get<BackupObject>('Backup', 'shop', 'nightly'))?.metadata.labels?.['ferry.dev/imported']).toBe('true');
  });

  it("importing a token of one of this cluster's own repositories into another namespace needs get on the owner's repositories", async () => {
    const r = await invoke(one.client.ImportBackup, one.client, { token, password: PASSWORD, namespace: 'mallory' }, bearer('token-mallory'));
    expect(r.err?.code).toBe(status.PERMISSION_DENIED);
    expect(r.err?.details).toMatch(/user mallory may not get backuprepositories\.ferry\.dev in namespace shop/);
    expect(await one.cluster.get<BackupObject>('Backup', 'mallory', 'nightly')).toBeUndefined();
    const key = await invoke(one.client.ImportKey, one.client, { token, password: PASSWORD, namespace: 'mallory' }, bearer('token-mallory'));
    expect(key.err?.code).toBe(status.PERMISSION_DENIED);
  });

  it("ExportKey exports only a repository that holds the request namespace: a tenant cannot name another namespace's repository", async () => {
    const request = { repository: 'local-shop', keyExport: 'KEY_EXPORT_PASSWORD', password: PASSWORD } as const;
    // Authorized for mallory (get backuprepositories there), but local-shop holds shop.
    const other = await invoke(one.client.ExportKey, one.client, { ...request, namespace: 'mallory' }, bearer('token-mallory'));
    expect(other.err?.code).toBe(status.NOT_FOUND);
    expect(other.err?.details).toContain('BackupRepository ferry-system/local-shop does not hold namespace mallory; name the repository of that namespace');
    expect(other.res).toBeUndefined();
    const direct = await invoke(one.client.ExportKey, one.client, { ...request, namespace: 'shop' }, bearer('token-mallory'));
    expect(direct.err?.code).toBe(status.PERMISSION_DENIED);
    expect(direct.err?.details).toMatch(/user mallory may not get backuprepositories\.ferry\.dev in namespace shop/);
    // The same request for shop by someone allowed there exports it.
    expect((await invoke(one.client.ExportKey, one.client, { ...request, namespace: 'shop' }, bearer('token-ops'))).err).toBeUndefined();
  });

  it('ExportKey and ImportKey round trip; ImportKey needs create on backuprepositories', async () => {
    const exported = await invoke(one.client.ExportKey, one.client, { namespace: 'shop', keyExport: 'KEY_EXPORT_PASSWORD', password: PASSWORD }, bearer('token-ops'));
    expect(exported.err).toBeUndefined();
    const denied = await invoke(two.client.ImportKey, two.client, { token: exported.res!.token, password: PASSWORD, namespace: 'other' }, bearer('token-dev'));
    expect(denied.err?.code).toBe(status.PERMISSION_DENIED);
    const r = await invoke(two.client.ImportKey, two.client, { token: exported.res!.token, password: PASSWORD }, bearer('token-dev'));
    expect(r.err).toBeUndefined();
    expect(r.res!.repository).toMatchObject({ namespace: 'shop', mover: 'native' });
    expect(r.res!.repository!.url).toBe(join(dir, 'repos', 'shop'));
  });
});

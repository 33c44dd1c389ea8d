/**
 * Tenants restoring across their own namespaces, on the real kube-apiserver with deploy/'s
 * webhooks pointed at a real coordinator: the restores.ferry.dev webhook asks the real
 * authorizer (SubjectAccessReview from RoleBindings) for the requester of a kubectl create,
 * stamps ferry.dev/created-by over a forged value and refuses later changes; the API path
 * (TokenReview + SubjectAccessReview) follows the same rule; prefix/suffix targets are the
 * namespaces pods come back in, with their data; and while the coordinator is down a
 * cross-namespace create is refused by the server while a plain one still passes.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { API_PROTO_FILE, PROTO_LOADER_OPTIONS, type ApiProtoGrpcType, type CreateRestoreRequest, type Restore__Output, type RestoresClient } from '../../packages/api/src/index.js';
import { disposeOwnedCluster, fillVolume, startOwnedCluster, volumeManifest, type Cr, type E2eCluster } from './cluster.fixture.js';
import { stopProc, waitFor } from './processes.fixture.js';

const A = 'team-a';
const B = 'team-b';
const PREFIXED = 'pre-team-a-x';
const group = { group: 'ferry.dev', version: 'v1alpha1', plural: 'restores' };
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let cluster: E2eCluster;
let restores: RestoresClient;
const before = new Map<string, Record<string, string>>();

/** The API server's answer to a tenant's create: the stored object, or the refusal's status and message. */
async function kubectlCreate(token: string, namespace: string, body: Record<string, unknown>): Promise<{ created?: Cr; code?: number; message?: string }> {
  const custom = cluster.controlPlane!.tokenKubeConfig(token).makeApiClient(CustomObjectsApi);
  try {
    return { created: (await custom.createNamespacedCustomObject({ ...group, namespace, body: { apiVersion: 'ferry.dev/v1alpha1', kind: 'Restore', ...body } })) as Cr };
  } catch (e) {
    const err = e as { code?: number; body?: string };
    return { code: err.code ?? 0, message: (JSON.parse(err.body ?? '{}') as { message?: string }).message ?? String(e) };
  }
}

async function kubectlPatch(token: string, name: string, body: Record<string, unknown>): Promise<{ code?: number; message?: string }> {
  const custom = cluster.controlPlane!.tokenKubeConfig(token).makeApiClient(CustomObjectsApi);
  try {
    await custom.patchNamespacedCustomObject({ ...group, namespace: A, name, body }, merge);
    return {};
  } catch (e) {
    const err = e as { code?: number; body?: string };
    return { code: err.code ?? 0, message: (JSON.parse(err.body ?? '{}') as { message?: string }).message ?? String(e) };
  }
}

function createViaApi(token: string, req: Partial<CreateRestoreRequest>): Promise<{ res?: Restore__Output; err?: ServiceError }> {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => restores.CreateRestore(req, md, (err, res) => resolve(err ? { err } : { res: res! })));
}

/** Creates the StatefulSet `db` in `namespace` and checks its pod got restore-wait and the data of team-a's pod back. */
async function restoredInto(namespace: string, restore: string): Promise<void> {
  await cluster.createStatefulSet(namespace, 'db');
  const [pod] = await cluster.runningPods(namespace, 1);
  expect(pod!.spec?.initContainers?.[0]?.name).toBe('ferry-restore-wait');
  const done = await cluster.waitPhase('restores', restore, A, ['Completed', 'PartiallyFailed', 'Failed'], 120_000);
  expect(done.status?.phase, JSON.stringify(done.status)).toBe('Completed');
  for (const v of ['cache', 'data']) expect(await volumeManifest(cluster.volumeDir(pod!, v)), `${namespace} ${v}`).toEqual(before.get(v));
}

beforeAll(async () => {
  const ferry = { verbs: ['*'], apiGroups: ['ferry.dev'], resources: ['backups', 'restores'] };
  const auth = {
    tokens: { 'ab-token': { username: 'tenant-ab', groups: ['tenant-ab'] }, 'a-token': { username: 'tenant-a', groups: ['tenant-a'] } },
    policy: [{ groups: ['tenant-ab'], ...ferry, namespaces: [A, B, PREFIXED] }, { groups: ['tenant-a'], ...ferry, namespaces: [A] }],
  };
  cluster = await startOwnedCluster({ name: 'tenant-mapping', nodes: ['node-a'], namespaces: [A, B, PREFIXED], prefix: 'tenant-mapping', auth });
  const protos = loadPackageDefinition(loadSync(API_PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [...PROTO_LOADER_OPTIONS.includeDirs] })) as unknown as ApiProtoGrpcType;
  restores = new protos.ferry.v1.Restores(cluster.apiAddress, credentials.createSsl(await readFile(join(cluster.o.root, 'certs', 'ca.crt'))));

  await cluster.createStatefulSet(A, 'db');
  const [pod] = await cluster.runningPods(A, 1);
  for (const v of ['cache', 'data']) {
    await fillVolume(cluster.volumeDir(pod!, v), `tenant-${v}`, 50);
    before.set(v, await volumeManifest(cluster.volumeDir(pod!, v)));
  }
  await cluster.create('backups', { kind: 'Backup', metadata: { name: 'nightly' }, spec: {} }, A);
  await cluster.waitPhase('backups', 'nightly', A, ['Completed'], 120_000);
  await rm(join(cluster.o.root, 'pv-storage'), { recursive: true, force: true });
}, 240_000);

afterAll(async () => {
  restores?.close();
  await disposeOwnedCluster(cluster);
}, 60_000);

describe('tenant namespace mapping on the real API server', () => {
  it('a tenant allowed in both namespaces maps A to B with kubectl; a forged creator is overwritten; one allowed in A only is refused naming the namespace and the permission', async () => {
    const ok = await kubectlCreate('ab-token', A, { metadata: { name: 'to-b', annotations: { 'ferry.dev/created-by': 'cluster-admin' } }, spec: { backupName: 'nightly', namespaceMapping: { [A]: B } } });
    expect(ok.message).toBeUndefined();
    expect(ok.created?.metadata.annotations?.['ferry.dev/created-by']).toBe('tenant-ab');
    await cluster.waitPhase('restores', 'to-b', A, ['InProgress'], 30_000);
    await restoredInto(B, 'to-b');

    const refused = await kubectlCreate('a-token', A, { metadata: { name: 'to-c' }, spec: { backupName: 'nightly', namespaceMapping: { [A]: 'team-c' } } });
    expect(refused.code).toBe(403);
    expect(refused.message).toBe('admission webhook "restores.ferry.dev" denied the request: user tenant-a may not create restores.ferry.dev in namespace team-c, which Restore team-a/to-c restores into it; grant it with a Role binding in team-c, or restore from ferry-system as an administrator');
    const prefixed = await kubectlCreate('a-token', A, { metadata: { name: 'prefixed' }, spec: { backupName: 'nightly', namespacePrefix: 'p-' } });
    expect(prefixed.message).toMatch(/user tenant-a may not create restores\.ferry\.dev in namespace p-team-a, which Restore team-a\/prefixed restores into it/);
    // Snapshots of another namespace are a source to read there, and (unmapped) a target there.
    const snapshot = { snapshotId: 'c'.repeat(64), location: 'rgw', namespace: B, volume: 'data' };
    const read = await kubectlCreate('a-token', A, { metadata: { name: 'reads-b' }, spec: { snapshots: [snapshot], namespaceMapping: { [B]: A } } });
    expect(read.message).toMatch(/user tenant-a may not get backups\.ferry\.dev in namespace team-b, which Restore team-a\/reads-b reads its snapshots/);
    const unmapped = await kubectlCreate('a-token', A, { metadata: { name: 'into-b' }, spec: { snapshots: [snapshot] } });
    expect(unmapped.message).toMatch(/user tenant-a may not create restores\.ferry\.dev in namespace team-b, which Restore team-a\/into-b restores into it/);
    const tooLong = await kubectlCreate('ab-token', A, { metadata: { name: 'too-long' }, spec: { backupName: 'nightly', namespaceSuffix: `-${'x'.repeat(60)}` } });
    expect(tooLong.code).toBe(422);
    expect(tooLong.message).toMatch(/target namespace "team-a-x{60}" \(namespacePrefix \+ team-a \+ namespaceSuffix\) is not a valid DNS-1123 label: it has 67 characters/);

    // What was checked stays as checked: the mapping and the stamp cannot change; a cancel still can.
    expect(await kubectlPatch('ab-token', 'to-b', { spec: { namespaceMapping: { [A]: 'team-c' } } })).toMatchObject({ code: 403, message: expect.stringContaining('spec.namespaceMapping cannot change after creation') });
    expect(await kubectlPatch('ab-token', 'to-b', { metadata: { annotations: { 'ferry.dev/created-by': 'cluster-admin' } } })).toMatchObject({ code: 403, message: expect.stringContaining('the ferry.dev/created-by annotation is set by the restores.ferry.dev webhook') });
    expect(await kubectlPatch('ab-token', 'to-b', { spec: { cancel: true } })).toEqual({});
  }, 300_000);

  it('the API applies the same rule to a tenant token, and prefix + name + suffix is where the pods come back', async () => {
    const denied = await createViaApi('a-token', { namespace: A, name: 'api-to-c', backup: 'nightly', namespaceMapping: { [A]: 'team-c' } });
    expect(denied.err?.code).toBe(status.PERMISSION_DENIED);
    expect(denied.err?.details).toMatch(/user tenant-a may not create restores\.ferry\.dev in namespace team-c/);

    const created = await createViaApi('ab-token', { namespace: A, name: 'api-prefixed', backup: 'nightly', namespacePrefix: 'pre-', namespaceSuffix: '-x' });
    expect(created.err).toBeUndefined();
    expect(created.res).toMatchObject({ namespacePrefix: 'pre-', namespaceSuffix: '-x' });
    const stored = await cluster.get('restores', 'api-prefixed', A);
    // The object's real creator is the coordinator (the webhook stamps it); the API caller is kept beside it.
    expect(stored.metadata.annotations).toMatchObject({ 'ferry.dev/created-by': 'system:serviceaccount:ferry-system:ferry-coordinator', 'api.ferry.dev/created-by': 'tenant-ab' });
    await cluster.waitPhase('restores', 'api-prefixed', A, ['InProgress'], 30_000);
    await restoredInto(PREFIXED, 'api-prefixed');
  }, 300_000);

  it('while the coordinator is down a cross-namespace Restore is refused by the server; a plain one is still accepted', async () => {
    await stopProc(cluster.coordinator);
    const refused = await kubectlCreate('ab-token', A, { metadata: { name: 'while-down' }, spec: { backupName: 'nightly', namespaceMapping: { [A]: B } } });
    expect(refused.code).toBe(500);
    expect(refused.message).toMatch(/failed calling webhook "restores\.ferry\.dev"/);
    const plain = await kubectlCreate('ab-token', A, { metadata: { name: 'plain-while-down' }, spec: { backupName: 'nightly' } });
    expect(plain.message).toBeUndefined();
    await waitFor(async () => (await cluster.get('restores', 'plain-while-down', A)).metadata.name === 'plain-while-down', 5_000, 'the plain Restore stored');
  }, 60_000);
});
